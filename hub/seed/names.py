"""Name pools for the generated county: towns, villages, roads, landmarks and the phrases of event text.

Plain data; ``county.py`` and ``events.py`` draw from it with a seeded random generator so the same seed
gives the same county.
"""

from __future__ import annotations

COUNTY_NAME = "苕溪区"
COUNTY_CODE = "330110"

#: (name, kind) for the ten 镇街: 街道 codes 001–0xx, 镇 1xx, 乡 2xx (行政区划代码 style).
TOWNS: tuple[tuple[str, str], ...] = (
    ("城东街道", "street"),
    ("城西街道", "street"),
    ("南湖街道", "street"),
    ("北苑街道", "street"),
    ("临溪街道", "street"),
    ("塘栖镇", "town"),
    ("青山镇", "town"),
    ("双桥镇", "town"),
    ("云峰镇", "town"),
    ("白鹭乡", "township"),
)

#: Syllables for 社区 (urban) names: first + second gives e.g. 翠苑, 锦绣.
COMMUNITY_FIRST = "翠锦金华新康和永紫嘉天瑞文明春泰丰景安福"
COMMUNITY_SECOND = ("苑", "园", "湖", "府", "城", "庭", "桥", "坊", "里", "湾", "港", "溪")
#: Syllables for 村 (rural) names: e.g. 前山村, 沈家村.
VILLAGE_FIRST = "前后上下东西南北大小新老高石杨沈陈吴徐朱周姚孙钱潘俞"
VILLAGE_SECOND = ("山", "塘", "桥", "湾", "埠", "家", "庄", "坞", "溪", "岭", "港", "墩", "畈", "圩")

ROAD_PREFIX = (
    "人民",
    "解放",
    "文一",
    "文二",
    "迎宾",
    "建设",
    "胜利",
    "工业",
    "临平",
    "南苑",
    "北沙",
    "东湖",
    "西溪",
    "望梅",
    "崇贤",
    "星桥",
    "超山",
    "藕花",
    "振兴",
    "荷花",
    "梅林",
    "枫桥",
    "育才",
    "兴业",
    "金家",
)
ROAD_SUFFIX = ("路", "大道", "街", "巷", "路", "街")
VILLAGE_ROAD_SUFFIX = ("路", "线", "村道", "弄", "组")

URBAN_LANDMARKS = (
    "菜市场门口",
    "小区东门",
    "小区南门",
    "公交站旁",
    "学校周边",
    "地铁站出口",
    "商业街",
    "停车场",
    "沿河绿道",
    "农贸市场",
    "超市门口",
    "医院西侧",
    "十字路口",
    "人行天桥下",
    "社区服务中心旁",
    "广场",
    "老旧小区内",
    "快递驿站前",
    "夜市路段",
    "写字楼前",
)
RURAL_LANDMARKS = (
    "村委会旁",
    "文化礼堂前",
    "桥头",
    "祠堂附近",
    "村口",
    "河埠头",
    "老街",
    "水泥厂附近",
    "田畈边",
    "山脚",
    "养殖场旁",
    "村道转弯处",
    "小学门口",
    "卫生室旁",
    "竹林边",
    "水库下游",
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田"
    "董潘袁蔡蒋余于杜叶程魏苏吕丁沈任姚卢钟姜崔谭陆范汪廖金石"
)
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "建国",
    "志强",
    "海燕",
    "晓东",
    "丽萍",
    "国强",
    "红梅",
    "文斌",
    "佳怡",
    "子涵",
    "浩然",
    "雪梅",
    "卫东",
    "春燕",
    "振华",
    "美玲",
    "俊杰",
)

#: Departments (职能部门) per 镇街 and at the county, keyed by the platform they serve.
TOWN_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("zhifa", "综合行政执法中队", "zonghe_zhifa"),
    ("shichang", "市场监管所", "shichang"),
    ("police", "派出所", "zongzhi"),
    ("bianmin", "便民服务中心", "bianmin"),
    ("yingji", "应急管理所", "zongzhi"),
)
COUNTY_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("zhifa", "区综合行政执法局", "zonghe_zhifa"),
    ("shichang", "区市场监督管理局", "shichang"),
    ("police", "公安分局", "zongzhi"),
    ("bianmin", "区政务服务中心", "bianmin"),
    ("yingji", "区应急管理局", "zongzhi"),
    ("zhujian", "区住房和城乡建设局", "zonghe_zhifa"),
    ("huanbao", "生态环境分局", "zonghe_zhifa"),
    ("minzheng", "区民政局", "bianmin"),
)

# Event text.
SOURCE_LEADS: dict[str, tuple[str, ...]] = {
    "grid_worker": ("网格员日常巡查发现", "网格员走访时发现", "网格员巡查上报", "网格员在巡查中发现"),
    "citizen": ("群众通过“浙里办”反映", "居民来电反映", "群众到村社反映", "市民通过随手拍反映"),
    "hotline": ("12345热线转办：来电人反映", "12345热线工单：市民反映", "热线转办：群众投诉"),
    "detection": ("视频智能分析发现", "AI视频巡检告警", "智能摄像头自动识别"),
    "department": ("部门巡查移交", "职能部门联合检查发现", "部门抄告"),
    "import": ("历史数据导入",),
}
TIME_PHRASES = ("今日上午", "今日下午", "近日", "近期", "连续多日", "今天早上", "昨晚", "每天傍晚", "周末期间")
#: What it does to people, and what the reporter asks for, by the platform that owns the category.
IMPACTS: dict[str, tuple[str, ...]] = {
    "zonghe_zhifa": (
        "影响周边居民正常生活", "影响市容市貌", "影响行人和车辆通行", "周边商户意见较大", "已持续一段时间",
        "多次劝导未果",
    ),
    "shichang": ("消费者意见较大", "存在食品安全隐患", "已有多名群众投诉", "涉嫌违反相关规定", "已持续一段时间"),
    "zongzhi": ("存在一定安全隐患", "当事双方情绪较为激动", "存在矛盾激化风险", "群众反映强烈", "需重点关注"),
    "bianmin": ("当事人生活存在困难", "给周边群众生活带来不便", "群众多次反映", "当事人希望得到帮助"),
}  # fmt: skip
REQUESTS: dict[str, tuple[str, ...]] = {
    "zonghe_zhifa": (
        "请相关部门尽快处理。", "请派人到现场核实处置。", "已现场劝导，需执法部门介入。", "请尽快安排人员整改。",
    ),
    "shichang": ("请市场监管部门核查处理。", "请依法查处。", "请尽快到现场检查。"),
    "zongzhi": ("请尽快介入调处。", "请相关部门核实并做好稳控。", "请派人到现场核实处置。", "请予以关注并处理。"),
    "bianmin": ("希望尽快协调解决。", "请相关部门上门了解情况。", "请予以帮助解决。"),
}  # fmt: skip
TITLE_TEMPLATES = (
    "{village}{landmark}{name}",
    "{road}{landmark}存在{name}问题",
    "关于{village}{road}{name}的反映",
    "{road}{number}号附近{name}",
    "{village}{landmark}发现{name}",
    "{town}{road}{name}",
)
DETAIL_TEMPLATES = (
    "现场{kw}情况较为明显",
    "发现{kw}问题",
    "有{kw}现象",
    "存在{kw}情况",
    "{kw}问题反复出现",
)
RESULTS = (
    "已到现场处置完毕，现场已恢复正常。",
    "已联系当事人整改到位，拍照留档。",
    "经现场核实，已协调相关单位处理完毕。",
    "已责令立即整改，当事人已按要求整改。",
    "已组织人员清理，后续加强巡查。",
    "已上门做好解释工作，当事人表示理解。",
    "已调解，双方达成一致意见。",
    "已完成维修，恢复使用。",
)
REJECT_REASONS = (
    "重复上报，已并入原工单",
    "不属于受理范围",
    "信息不全，无法核实",
    "经核实情况不属实",
    "已由其他部门处置",
)
ACCEPT_NOTES = ("受理", "已受理，请尽快处置", "情况属实，予以受理")
ASSIGN_NOTES = ("请于时限内处置", "请尽快到现场处理", "交办处置", "请核实后处置并反馈")
SIGN_NOTES = ("已签收", "已签收，马上前往现场", "收到，正在处理")
ESCALATE_NOTES = ("超出处置能力，申请上报", "需上级协调多部门处置", "涉及职能部门执法，上报", "本级无法处置，上报")
TRANSFER_NOTES = ("非本单位职责，流转", "流转至责任单位", "按职责分工流转")
RETURN_NOTES = ("不属于本网格职责，退回", "超出网格处置范围，请重新交办", "需职能部门处置，退回")
VERIFY_PASS_NOTES = ("核查通过", "经回访核实已处置到位", "现场核查，整改到位")
VERIFY_FAIL_NOTES = ("核查未通过，请重新处置", "回访群众不满意，退回重办")
URGE_NOTES = ("即将超期，请加快处置", "请抓紧办理", "已超期，请尽快反馈")
EXTEND_NOTES = ("需协调多方，申请延期", "等待材料，申请延期三天", "天气原因无法施工，申请延期")
EVALUATE_NOTES: dict[int, str] = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
