"""Reference data for demo members: names, cities, stores, tags, tiers, coupon templates.

Weights are rough shares, chosen so the demo looks like a Chinese beauty/retail brand: mostly
women aged 20-45, concentrated in first and new-first tier cities.
"""

# Common surnames, most frequent first, with rough weights (per mille of the population).
SURNAMES = [
    ("王", 72), ("李", 71), ("张", 68), ("刘", 53), ("陈", 46), ("杨", 32), ("黄", 23),
    ("赵", 21), ("吴", 20), ("周", 19), ("徐", 14), ("孙", 13), ("马", 12), ("朱", 11),
    ("胡", 10), ("郭", 10), ("何", 9), ("高", 9), ("林", 9), ("罗", 8), ("郑", 8), ("梁", 8),
    ("谢", 7), ("宋", 6), ("唐", 6), ("许", 5), ("韩", 5), ("冯", 5), ("邓", 5), ("曹", 5),
    ("彭", 5), ("曾", 4), ("肖", 4), ("田", 4), ("董", 4), ("袁", 4), ("潘", 4), ("于", 3),
    ("蒋", 3), ("蔡", 3), ("余", 3), ("杜", 3), ("叶", 3), ("程", 3), ("苏", 3), ("魏", 3),
    ("吕", 3), ("丁", 3), ("任", 3), ("沈", 3), ("姚", 3), ("卢", 3), ("姜", 2), ("崔", 2),
    ("钟", 2), ("谭", 2), ("陆", 2), ("汪", 2), ("范", 2), ("金", 2), ("石", 2), ("廖", 2),
    ("贾", 2), ("夏", 2), ("韦", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2), ("熊", 2),
    ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("段", 1), ("雷", 1), ("侯", 1),
    ("龙", 1), ("史", 1), ("陶", 1), ("黎", 1), ("贺", 1), ("顾", 1), ("毛", 1), ("郝", 1),
    ("龚", 1), ("邵", 1), ("万", 1), ("钱", 1), ("严", 1), ("武", 1), ("戴", 1), ("孔", 1),
    ("欧阳", 1), ("上官", 1), ("司马", 1),
]  # fmt: skip

# Characters of given names (one or two of them), by gender.
GIVEN_FEMALE = (
    "婷静敏燕艳丽娟霞芳玲雪琳颖倩欣怡佳悦晨萱涵雨梓诗语思嘉妍琪瑶蕾慧洁璐露薇娜婉佩晓梦若可心"
    "月馨雅彤茜丹宁秀兰莉凤珊蓉菲琳璇楠"
)
GIVEN_MALE = "伟强磊军洋勇杰涛明超斌鹏辉浩宇轩俊博文昊晨然子豪航睿哲鑫凯毅峰龙阳志翔泽楷铭宏建国华"

# (province, city, weight). Short names, as members and stores store them.
CITIES = [
    ("上海", "上海", 120), ("北京", "北京", 110), ("广东", "广州", 90), ("广东", "深圳", 90),
    ("浙江", "杭州", 70), ("四川", "成都", 70), ("重庆", "重庆", 50), ("江苏", "南京", 50),
    ("湖北", "武汉", 50), ("陕西", "西安", 40), ("江苏", "苏州", 40), ("天津", "天津", 30),
    ("湖南", "长沙", 30), ("河南", "郑州", 30), ("山东", "青岛", 20), ("山东", "济南", 20),
    ("福建", "厦门", 20), ("福建", "福州", 20), ("辽宁", "沈阳", 20), ("云南", "昆明", 20),
    ("浙江", "宁波", 20), ("安徽", "合肥", 20), ("广东", "东莞", 20), ("广东", "佛山", 20),
    ("江苏", "无锡", 20), ("辽宁", "大连", 10), ("黑龙江", "哈尔滨", 10), ("吉林", "长春", 10),
    ("江西", "南昌", 10), ("广西", "南宁", 10), ("贵州", "贵阳", 10), ("山西", "太原", 10),
    ("河北", "石家庄", 10), ("海南", "海口", 10), ("新疆", "乌鲁木齐", 5), ("甘肃", "兰州", 5),
    ("内蒙古", "呼和浩特", 5),
]  # fmt: skip

# (code, name, province, city)
STORES = [
    ("SH01", "上海南京西路店", "上海", "上海"),
    ("SH02", "上海徐家汇店", "上海", "上海"),
    ("BJ01", "北京三里屯店", "北京", "北京"),
    ("BJ02", "北京国贸店", "北京", "北京"),
    ("GZ01", "广州天河城店", "广东", "广州"),
    ("SZ01", "深圳万象城店", "广东", "深圳"),
    ("HZ01", "杭州湖滨银泰店", "浙江", "杭州"),
    ("CD01", "成都太古里店", "四川", "成都"),
    ("NJ01", "南京新街口店", "江苏", "南京"),
    ("WH01", "武汉楚河汉街店", "湖北", "武汉"),
]

# Where members come from: (source channel code, weight).
SOURCES = [
    ("offline_store", 34), ("miniprogram", 24), ("wecom", 12), ("douyin", 8),
    ("xiaohongshu", 6), ("referral", 5), ("official_account", 4), ("tmall", 3),
    ("ground_promotion", 2), ("weibo", 1), ("kuaishou", 1),
]  # fmt: skip
# Sources whose members are met in a store (so they get a home store and often a guide).
IN_STORE_SOURCES = {"offline_store", "wecom", "ground_promotion", "referral"}
# Sources that come with a WeChat identity.
WECHAT_SOURCES = {"miniprogram", "wecom", "official_account", "referral"}

# (code, name, rank, minimum total paid in yuan)
TIERS = [
    ("normal", "普通会员", 0, 0),
    ("silver", "银卡", 1, 1000),
    ("gold", "金卡", 2, 5000),
    ("black", "黑金", 3, 20000),
]

# (group, multi_select, [tags]) — 价值分层 and 渠道偏好 are derived from each member's orders.
TAG_GROUPS = [
    ("肤质", False, ["油性", "干性", "混合", "敏感"]),
    ("偏好品类", True, ["护肤", "彩妆", "香水", "个护"]),
    ("价值分层", False, ["高价值", "潜力", "一般", "流失风险"]),
    ("渠道偏好", True, ["门店", "小程序", "企业微信", "直播电商"]),
]
SKIN_WEIGHTS = [30, 25, 30, 15]
CATEGORY_WEIGHTS = [45, 30, 12, 13]

# (name, value, threshold, valid days)
COUPON_TEMPLATES = [
    ("新人礼 满99减10", 10, 99, 30),
    ("满199减20", 20, 199, 30),
    ("满399减50", 50, 399, 30),
    ("会员日 满299减40", 40, 299, 14),
    ("生日礼 30元无门槛", 30, 0, 30),
]

# Mobile prefixes of the three carriers, all valid for phonenumbers.
PHONE_PREFIXES = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181",
    "182", "183", "185", "186", "187", "188", "189", "191", "199",
]  # fmt: skip

# Order channels: (order source, prefix of external ids).
ORDER_CHANNELS = {"pos": "P", "miniprogram": "MP", "douyin": "DY"}

GUIDE_PASSWORD = "guide-demo"
