# Erasure of members' personal data (members.services.privacy): the "erase_members"
# permission, and orders that may outlive their member's identity (member NULL once erased).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0002_tag_sort_label'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='member',
            options={'permissions': [('view_unmasked_phone', 'Can see full phone numbers and WeChat ids'), ('export_members', 'Can export members'), ('merge_members', 'Can merge members'), ('erase_members', "Can erase members' personal data")], 'verbose_name': 'member', 'verbose_name_plural': 'members'},
        ),
        migrations.AlterField(
            model_name='order',
            name='member',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='members.member', verbose_name='member'),
        ),
    ]
