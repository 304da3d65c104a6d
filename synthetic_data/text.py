"""Free text for support tickets and survey comments, in English and Vietnamese.

Templates are grouped by tone so that text sentiment follows the planted experience
(late delivery, many contacts) rather than being random noise.
"""

from __future__ import annotations

import random

Texts = dict[str, dict[str, tuple[str, ...]]]  # topic or tone -> language -> templates

TICKET_SUBJECTS: Texts = {
    "where": {
        "en": (
            "Where is my order {order}?",
            "Order {order} not delivered yet",
            "Delivery status for {order}",
        ),
        "vi": (
            "Đơn hàng {order} chưa được giao",
            "Khi nào nhận được đơn {order}?",
            "Kiểm tra tình trạng đơn {order}",
        ),
    },
    "return": {
        "en": ("Return request for {order}", "Wrong item received in {order}", "Item damaged on arrival"),
        "vi": (
            "Yêu cầu đổi trả đơn {order}",
            "Giao sai sản phẩm trong đơn {order}",
            "Sản phẩm bị hỏng khi nhận",
        ),
    },
    "refund": {
        "en": (
            "Refund for order {order}",
            "Still waiting for my refund",
            "Cancelled order {order} not refunded",
        ),
        "vi": (
            "Hoàn tiền đơn hàng {order}",
            "Chưa nhận được tiền hoàn",
            "Đơn {order} đã hủy nhưng chưa hoàn tiền",
        ),
    },
    "general": {
        "en": (
            "Cannot log in to my account",
            "Question about a promotion",
            "Change my delivery address",
            "How do I use my loyalty points?",
        ),
        "vi": (
            "Không đăng nhập được tài khoản",
            "Hỏi về chương trình khuyến mãi",
            "Thay đổi địa chỉ giao hàng",
            "Cách dùng điểm tích lũy?",
        ),
    },
}

# neutral bodies follow the ticket topic; negative and angry ones fit any order problem
NEUTRAL_BODIES: Texts = {
    "where": {
        "en": (
            "Hi, could you tell me when order {order} will arrive? Thanks.",
            "Hello, I would like to check the status of my order {order}.",
        ),
        "vi": (
            "Chào shop, em muốn hỏi đơn hàng {order} khi nào được giao ạ? Cảm ơn.",
            "Xin chào, cho mình hỏi tình trạng đơn {order} với.",
        ),
    },
    "return": {
        "en": (
            "Hi, I would like to return an item from order {order}. How do I do that?",
            "The item I received in {order} is not what I ordered. Can I exchange it?",
        ),
        "vi": (
            "Chào shop, mình muốn đổi trả một sản phẩm trong đơn {order}. Làm thế nào ạ?",
            "Sản phẩm nhận được trong đơn {order} không đúng mẫu. Đổi giúp mình được không?",
        ),
    },
    "refund": {
        "en": (
            "Hello, when will I receive the refund for order {order}?",
            "I cancelled {order}. Please confirm the refund.",
        ),
        "vi": (
            "Chào shop, khi nào mình nhận được tiền hoàn cho đơn {order}?",
            "Mình đã hủy đơn {order}. Nhờ shop xác nhận hoàn tiền giúp.",
        ),
    },
    "general": {
        "en": (
            "Hi team, I cannot log in to my account. Thank you.",
            "Does the current promotion apply to all products?",
            "How can I use my loyalty points at checkout?",
        ),
        "vi": (
            "Shop ơi, mình không đăng nhập được tài khoản. Cảm ơn nhiều.",
            "Chương trình khuyến mãi hiện tại áp dụng cho tất cả sản phẩm không ạ?",
            "Làm sao để dùng điểm tích lũy khi thanh toán?",
        ),
    },
}
TICKET_BODIES: Texts = {
    "negative": {
        "en": (
            "Order {order} is {days} days late and nobody has updated me. Very disappointed.",
            "The item in {order} arrived damaged. I want a replacement.",
            "I have contacted you {count} times about {order}. Please fix it.",
            "I have been waiting for an answer for days. Very disappointed.",
        ),
        "vi": (
            "Đơn hàng {order} đã trễ {days} ngày mà vẫn chưa thấy đâu. Rất thất vọng.",
            "Sản phẩm trong đơn {order} bị hỏng khi nhận. Yêu cầu đổi hàng.",
            "Đây là lần thứ {count} tôi liên hệ về đơn {order}. Làm ơn giải quyết.",
            "Tôi đã chờ phản hồi nhiều ngày rồi. Rất thất vọng.",
        ),
    },
    "angry": {
        "en": (
            "Terrible service!!! I have contacted you {count} times and NOBODY helps. I will never buy here again.",
            "Absolutely unacceptable. {days} days late, no refund, no answer. Worst shop ever.",
            "SCAM. The product is broken and you ignore me. I want my money back NOW.",
        ),
        "vi": (
            "Dịch vụ quá tệ!!! Tôi đã liên hệ {count} lần mà không ai giải quyết. Sẽ không bao giờ mua nữa.",
            "Không thể chấp nhận được. Trễ {days} ngày, không hoàn tiền, không trả lời. Shop tệ nhất!",
            "Lừa đảo! Hàng nhận được bị hỏng mà không ai quan tâm. Hoàn tiền ngay lập tức!",
        ),
    },
}

COMMENTS: Texts = {
    "promoter": {
        "en": (
            "Fast delivery, great quality!",
            "Love the app, very easy to use.",
            "Staff were super helpful.",
            "Will definitely buy again",
            "Great prices and quick support",
        ),
        "vi": (
            "Giao hàng nhanh, sản phẩm tốt!",
            "Nhân viên nhiệt tình, dễ thương.",
            "Sẽ ủng hộ shop dài dài",
            "Ứng dụng dễ dùng, giá tốt",
            "Hài lòng",
        ),
    },
    "passive": {
        "en": ("It was okay.", "Delivery could be faster.", "Average experience", "Fine, nothing special"),
        "vi": ("Tạm được.", "Giao hàng hơi chậm.", "Bình thường", "Cũng được, không có gì đặc biệt"),
    },
    "detractor": {
        "en": (
            "Delivery was late and nobody answered my messages.",
            "Terrible experience, never again.",
            "Support kept me waiting for ages.",
            "I had to contact you three times. Awful.",
        ),
        "vi": (
            "Giao hàng quá chậm, rất thất vọng.",
            "Tệ, không bao giờ mua lại.",
            "Chờ hỗ trợ quá lâu.",
            "Phải liên hệ ba lần mới được giải quyết. Quá tệ.",
        ),
    },
}
MIXED_COMMENTS: dict[str, tuple[str, ...]] = {
    "promoter": ("Sản phẩm good, will buy again 👍", "Shop rất ok, ship fast", "Nhân viên friendly, giá tốt"),
    "passive": (
        "Giao hàng fast, nhưng packaging bị rách",
        "Shop ok nhưng ship hơi chậm",
        "App hơi lag nhưng ok",
    ),
    "detractor": (
        "Ship quá chậm, so disappointed",
        "Support không reply, very bad",
        "Hàng lỗi, refund chậm 😡",
    ),
}
EMOJI_COMMENTS: dict[str, tuple[str, ...]] = {
    "promoter": ("👍", "❤️", "😊👍", "🔥🔥", "⭐⭐⭐⭐⭐"),
    "passive": ("😐", "🙂", "👌"),
    "detractor": ("😡😡😡", "👎", "🙄", "💩"),
}


def tone_for_score(score: int, survey_type: str) -> str:
    """NPS-style buckets, rescaled for CSAT (1-5) and CES (1-7)."""
    lo, hi = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}[survey_type]
    frac = (score - lo) / (hi - lo)
    if frac >= 0.85:
        return "promoter"
    if frac >= 0.65:
        return "passive"
    return "detractor"


def survey_comment(rng: random.Random, tone: str, lang: str) -> str:
    """Empty for ~45% of responses; otherwise plain, mixed-language or emoji-only text."""
    r = rng.random()
    if r < 0.45:
        return ""
    if r < 0.52:
        return rng.choice(EMOJI_COMMENTS[tone])
    if r < 0.60 and lang == "vi":
        return rng.choice(MIXED_COMMENTS[tone])
    return rng.choice(COMMENTS[tone][lang])


def ticket_text(
    rng: random.Random, topic: str, tone: str, lang: str, order_id: str | None, days: int, count: int
) -> tuple[str, str]:
    """(subject, body); the body may span lines, as real emails do (JSONL escapes the newline)."""
    # tickets without an order must not mention one
    subjects = [t for t in TICKET_SUBJECTS[topic][lang] if order_id or "{order}" not in t]
    pool = NEUTRAL_BODIES[topic][lang] if tone == "neutral" else TICKET_BODIES[tone][lang]
    bodies = [t for t in pool if order_id or ("{order}" not in t and "{days}" not in t)]
    if not bodies:  # an order-less ticket with a late-delivery tone: fall back to the topic's text
        bodies = list(NEUTRAL_BODIES["general"][lang])
    subject = rng.choice(subjects or TICKET_SUBJECTS["general"][lang]).format(order=order_id)
    body = rng.choice(bodies).format(order=order_id, days=days, count=count)
    if rng.random() < 0.2:
        body += "\n\n" + ("Sent from my iPhone" if lang == "en" else "Gửi từ điện thoại của tôi")
    return subject, body
