"""The guide workspace, under /workspace/."""

from django.urls import path

from workspace import views

app_name = "workspace"

urlpatterns = [
    path("", views.today, name="today"),
    path("tasks/<int:pk>/sent/", views.task_confirm, name="task-confirm"),
    path("customers/", views.customers, name="customers"),
    path("customers/<int:pk>/", views.customer, name="customer"),
    path("customers/<int:pk>/tags/<int:tag_pk>/", views.customer_tag, name="customer-tag"),
    path("code/", views.my_code, name="code"),
]
