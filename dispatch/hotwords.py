"""The word lists of the big screen's 热词 (``overview.hot_words``), kept here in one place.

A leader reads the hot words to see *what* the county complains about (垃圾, 占道经营, 噪音, 积水, 井盖 …).
Reports are written in the language of governance, so the most frequent words of any corpus are the same
filler whatever happens: where it happened by level (社区, 街道, 网格), who handles it (部门, 单位), the
phrasing of the report (发现, 反映, 影响, 出现, 现象, 情况, 尽快, 相关) and the function words of written
Chinese (关于, 较为, 比较, 该处 …). ``STOPWORDS`` drops those, and only those: a word that names a kind of
problem, a thing or a place type a leader acts on stays, even when it is frequent.

``DOMAIN_WORDS`` are added to the segmenter's dictionary (jieba's own does not hold them, or loses them to a
neighbour: 路面积水 would otherwise be 后路 / 面积 / 水), so that they are counted as one word.

To change a list, keep its group and add a case to tests/test_screens_overview.py's hot-word test.
"""

from __future__ import annotations

import functools
import logging
from typing import Any


def _group(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Words never shown as hot words, by group (see the module's docstring for the rule).
STOPWORD_GROUPS: dict[str, frozenset[str]] = {
    # the administrative structure: every event lies in a 街道, 社区 and 网格
    "levels": _group("县区 镇街 街道 社区 村社 网格 网格员 村委 村委会 居委会 办事处 街道办 辖区 本辖区 属地"),
    # who handles it
    "handlers": _group("部门 相关部门 有关部门 单位 有关单位 职能部门 工作人员 人员 领导 物业公司"),
    # the people a report is from
    "reporters": _group("群众 居民 市民 村民 住户 业主 群众反映 来电 来电人 来电反映 热线"),
    # the verbs and nouns of reporting and handling
    "reporting": _group(
        """发现 反映 上报 报告 投诉 举报 巡查 巡查中 检查 排查 走访 处理 处置 解决 整改 及时处理 尽快处理
        进行 开展 加强 落实 协调 督促 联系 告知 核实 核查 反馈 答复 回复 给予 予以 要求 希望 请求 建议 需要
        帮忙 帮助 安排 派人 到场 关注 管理"""
    ),
    # the phrasing of a report: what happens, how it is, where
    "phrasing": _group(
        """情况 问题 现象 事件 事项 影响 出现 存在 长期存在 造成 导致 发生 产生 严重 较大 一定 有关 相关 具体
        位置 附近 周边 一带 区域 地方 地点 现场 路边 路段 该处 此处 该地 该路段 门口 旁边 对面 左右 周围
        大道 大街 路口 街口 巷口 沿线 意见 视频 智能 画面 监控 抓拍 摄像头 触发 规则 超过 阈值 人数 最高 置信度
        目标 编号"""
    ),
    # time and degree adverbs
    "adverbs": _group(
        """尽快 及时 马上 立即 立刻 赶紧 一直 经常 总是 长期 多次 屡次 反复 日常 目前 现在 已经 曾经 仍然 依然
        还是 至今 近期 最近 近日 今天 昨天 每天 每日 较为 比较 非常 十分 特别 很多 许多 一些 有些 部分 全部
        所有 进一步 今日 昨日 昨晚 今晚 早上 晚上 上午 下午 中午 凌晨 夜间 深夜 白天 周末 一段时间 持续 明显
        傍晚 期间 多日 连日 连续 正常 时段 高峰"""
    ),
    # prepositions, conjunctions, pronouns and other function words
    "function": _group(
        """关于 对于 由于 因为 所以 但是 而且 并且 以及 或者 如果 虽然 通过 根据 按照 为了 其中 之后 之前 以后
        以前 一个 我们 他们 你们 她们 自己 这个 那个 这些 那些 这里 那里 这边 那边 其他 其它 某某 等等 没有 可以
        能够 应该 是否 无法 不能 不是 还有 就是 即可 之一"""
    ),
}
STOPWORDS: frozenset[str] = frozenset().union(*STOPWORD_GROUPS.values())

#: Words of the domain added to the segmenter, so that they come out whole (see the module's docstring).
DOMAIN_WORDS: tuple[str, ...] = tuple(
    sorted(
        _group(
            """占道 占道经营 积水 井盖 窨井盖 乱停车 乱停放 乱堆放 乱搭建 违章搭建 违建 渣土 油烟 噪音 扰民 垃圾
            垃圾桶 垃圾站 路灯 飞线 充电 漏水 污水"""
        )
    )
)
#: Their frequency in the segmenter's dictionary: high enough to win over neighbours (积水 over 面积 in
#: 路面积水), as common words are.
DOMAIN_WORD_FREQ = 20_000


@functools.lru_cache(maxsize=1)
def segmenter() -> Any:
    """The jieba tokenizer of the hot words, with ``DOMAIN_WORDS``: its own instance, so that the words added
    change nothing for another user of jieba in the process. Loads the dictionary (about a second) on the
    first call."""
    import jieba  # imported lazily: the dictionary is loaded once, when first needed

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word in DOMAIN_WORDS:
        tokenizer.add_word(word, freq=DOMAIN_WORD_FREQ)
    return tokenizer


#: Words that end a road's name: the word before one is the road's name (金家 of 金家路), a place, not a topic.
ROAD_MARKS = frozenset({"路", "街", "大道", "大街", "巷", "弄", "道", "路口"})

#: What the names of jurisdictions end with (镇街, 村社, …): reports write the stem alone too (临溪 for 临溪街道).
PLACE_SUFFIXES = ("街道办事处", "街道", "社区", "居委会", "村委会", "网格", "区", "县", "市", "镇", "乡", "村")


def place_stems(name: str) -> set[str]:
    """``name`` and its stem without the suffix of its level (two characters at least): 临溪街道 → {临溪街道, 临溪}."""
    words = {name}
    for suffix in PLACE_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            words.add(name[: -len(suffix)])
            break
    return words
