"""Cần Thơ's seed catalogue of citizen report types (Open311 services), as data.

Each entry names the department that handles it by default (the codes of the city departments
seeded in the platform, after the 2025 mergers: Sở Xây dựng took in Transport, Sở Nông nghiệp
và Môi trường took in Natural Resources and Environment), its deadline in working days, its
Open311 attributes in Vietnamese and English, and the entity type a report is linked to (the
nearest one, e.g. the lamp of a dark street). Admins edit the stored copy; this is the seed.

Routing choices: roads, traffic signals, street lighting, urban trees, urban water supply and
drainage (street flooding included) go to SXD; waste and dumping to SNNMT; noise and
encroachment (public order, enforced by the ward police) to CATP; anything else to VPUB for
triage. The default language is Vietnamese; `to_service(entry, "en")` gives English.
"""

from __future__ import annotations

from dataclasses import dataclass

from .open311 import Service, ServiceAttribute

#: Codes of the city departments seeded in the platform (smartcity.core.auth.seed).
DEPARTMENT_CODES: tuple[str, ...] = (
    "VPUB", "STC", "SXD", "SNNMT", "SKHCN", "SNV", "SCT",
    "SYT", "SGDDT", "SVHTTDL", "STP", "SDTTG", "TTTP", "CATP",
)  # fmt: skip
LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class CatalogueEntry:
    """One report type: Open311 service fields in both languages, routing and deadline."""

    service_code: str
    name_vi: str
    name_en: str
    description_vi: str
    description_en: str
    #: Group in Vietnamese (the default) and English.
    group: str
    group_en: str
    keywords: tuple[str, ...]
    keywords_en: tuple[str, ...]
    #: The department that handles it by default (a code of DEPARTMENT_CODES).
    department: str
    #: Deadline in working days from receipt.
    sla_days: int
    #: Open311 attributes in Vietnamese, and the same in English.
    attributes: tuple[ServiceAttribute, ...] = ()
    attributes_en: tuple[ServiceAttribute, ...] = ()
    #: Entity type a report links to (the nearest within reach), if any.
    linked_type: str | None = None


_Option = tuple[str, str, str]  # key, Vietnamese name, English name
_Pair = tuple[ServiceAttribute, ServiceAttribute]


def _attr(
    code: str,
    datatype: str,
    required: bool,
    order: int,
    description: tuple[str, str],
    options: tuple[_Option, ...] = (),
    datatype_description: tuple[str, str] = ("", ""),
) -> _Pair:
    """One attribute in Vietnamese and in English."""
    vi = ServiceAttribute(
        code=code,
        datatype=datatype,
        required=required,
        description=description[0],
        order=order,
        values=tuple((key, name_vi) for key, name_vi, _ in options),
        datatype_description=datatype_description[0],
    )
    en = ServiceAttribute(
        code=code,
        datatype=datatype,
        required=required,
        description=description[1],
        order=order,
        values=tuple((key, name_en) for key, _, name_en in options),
        datatype_description=datatype_description[1],
    )
    return vi, en


def _entry(
    code: str,
    names: tuple[str, str],
    descriptions: tuple[str, str],
    groups: tuple[str, str],
    keywords: tuple[tuple[str, ...], tuple[str, ...]],
    department: str,
    sla_days: int,
    attributes: tuple[_Pair, ...] = (),
    linked_type: str | None = None,
) -> CatalogueEntry:
    """A catalogue entry from (Vietnamese, English) pairs."""
    return CatalogueEntry(
        service_code=code,
        name_vi=names[0],
        name_en=names[1],
        description_vi=descriptions[0],
        description_en=descriptions[1],
        group=groups[0],
        group_en=groups[1],
        keywords=keywords[0],
        keywords_en=keywords[1],
        department=department,
        sla_days=sla_days,
        attributes=tuple(vi for vi, _ in attributes),
        attributes_en=tuple(en for _, en in attributes),
        linked_type=linked_type,
    )


TRANSPORT = ("Giao thông", "Transport")
ENVIRONMENT = ("Môi trường", "Environment")
INFRASTRUCTURE = ("Hạ tầng đô thị", "Urban infrastructure")
ORDER = ("Trật tự đô thị", "Urban order")
OTHER = ("Khác", "Other")

CATALOGUE: tuple[CatalogueEntry, ...] = (
    _entry(
        "pothole",
        ("Ổ gà, hư hỏng mặt đường", "Pothole or damaged road surface"),
        (
            "Ổ gà, lún, nứt hoặc bong tróc mặt đường, gây nguy hiểm cho người đi đường.",
            "A pothole, subsidence, crack or broken surface on a road that endangers road users.",
        ),
        TRANSPORT,
        (
            ("ổ gà", "hố", "lún", "nứt", "mặt đường", "o ga"),
            ("pothole", "road", "crack", "subsidence"),
        ),
        "SXD",
        7,
        (
            _attr(
                "size",
                "singlevaluelist",
                True,
                1,
                ("Kích thước ổ gà", "Size of the pothole"),
                (
                    ("small", "Nhỏ (dưới 30 cm)", "Small (under 30 cm)"),
                    ("medium", "Vừa (30 cm – 1 m)", "Medium (30 cm – 1 m)"),
                    ("large", "Lớn (trên 1 m)", "Large (over 1 m)"),
                ),
            ),
        ),
    ),
    _entry(
        "flooded-street",
        ("Ngập nước đường phố", "Flooded street"),
        (
            "Đường, hẻm bị ngập do mưa hoặc triều cường, cản trở đi lại.",
            "A street or alley flooded by rain or high tide, hindering traffic.",
        ),
        INFRASTRUCTURE,
        (
            ("ngập", "ngập nước", "triều cường", "mưa", "ngap"),
            ("flood", "flooding", "high tide", "water on road"),
        ),
        "SXD",
        3,
        (
            _attr(
                "depth",
                "singlevaluelist",
                True,
                1,
                ("Độ sâu nước ngập", "Depth of the water"),
                (
                    ("under_10cm", "Dưới 10 cm (mắt cá chân)", "Under 10 cm (ankle)"),
                    ("10_30cm", "10–30 cm (bắp chân)", "10–30 cm (calf)"),
                    ("30_50cm", "30–50 cm (đầu gối)", "30–50 cm (knee)"),
                    ("over_50cm", "Trên 50 cm", "Over 50 cm"),
                ),
            ),
        ),
        linked_type="FloodMonitoring",
    ),
    _entry(
        "streetlight-broken",
        ("Đèn đường hỏng", "Broken streetlight"),
        (
            "Đèn chiếu sáng công cộng không sáng, chập chờn, sáng ban ngày hoặc bị hư hỏng.",
            "A public streetlight that is off, flickering, on in daytime or damaged.",
        ),
        INFRASTRUCTURE,
        (
            ("đèn đường", "chiếu sáng", "cột đèn", "tối", "den duong"),
            ("streetlight", "street lamp", "lighting", "dark street"),
        ),
        "SXD",
        5,
        (
            _attr(
                "problem",
                "singlevaluelist",
                False,
                1,
                ("Tình trạng đèn", "What is wrong"),
                (
                    ("off", "Không sáng", "Not lit"),
                    ("flickering", "Chập chờn", "Flickering"),
                    ("day_burning", "Sáng ban ngày", "On in daytime"),
                    ("damaged", "Cột hoặc chóa đèn hư hỏng", "Pole or lamp damaged"),
                ),
            ),
            _attr(
                "pole_number",
                "string",
                False,
                2,
                ("Số hiệu cột đèn (ghi trên thân cột)", "Pole number (written on the pole)"),
            ),
        ),
        linked_type="Streetlight",
    ),
    _entry(
        "traffic-light-fault",
        ("Đèn tín hiệu giao thông hỏng", "Traffic light fault"),
        (
            "Đèn tín hiệu giao thông tắt, đứng một màu, chỉ nhấp nháy vàng hoặc hư hỏng.",
            "A traffic light that is off, stuck on one colour, only flashing amber or damaged.",
        ),
        TRANSPORT,
        (
            ("đèn giao thông", "đèn tín hiệu", "đèn xanh đèn đỏ", "den giao thong"),
            ("traffic light", "traffic signal", "signal"),
        ),
        "SXD",
        3,
        (
            _attr(
                "problem",
                "singlevaluelist",
                False,
                1,
                ("Tình trạng đèn", "What is wrong"),
                (
                    ("all_off", "Tắt hoàn toàn", "Completely off"),
                    ("stuck", "Đứng một màu", "Stuck on one colour"),
                    ("flashing", "Chỉ nhấp nháy vàng", "Only flashing amber"),
                    ("countdown", "Đồng hồ đếm ngược hỏng", "Countdown timer broken"),
                    ("damaged", "Cột hoặc đèn bị hư, nghiêng", "Pole or light damaged, leaning"),
                ),
            ),
        ),
        linked_type="TrafficSignal",
    ),
    _entry(
        "waste-uncollected",
        ("Rác không được thu gom", "Uncollected waste"),
        (
            "Rác sinh hoạt, thùng rác đầy hoặc điểm tập kết rác không được thu gom đúng lịch.",
            "Household waste, a full bin or a collection point not collected on schedule.",
        ),
        ENVIRONMENT,
        (("rác", "thu gom rác", "thùng rác", "rac"), ("waste", "rubbish", "garbage", "bin")),
        "SNNMT",
        3,
        (
            _attr(
                "days_uncollected",
                "number",
                False,
                1,
                ("Số ngày chưa được thu gom", "Days without collection"),
                datatype_description=("Số ngày, ví dụ 3", "A number of days, e.g. 3"),
            ),
        ),
        linked_type="WasteContainer",
    ),
    _entry(
        "illegal-dumping",
        ("Đổ rác, xả thải trái phép", "Illegal dumping"),
        (
            "Đổ rác, xà bần, chất thải hoặc nước thải không đúng nơi quy định, kể cả xuống sông.",
            "Waste, rubble or wastewater dumped where it is not allowed, rivers included.",
        ),
        ENVIRONMENT,
        (
            ("đổ rác", "xả thải", "xà bần", "ô nhiễm", "do rac"),
            ("dumping", "fly-tipping", "rubble", "pollution"),
        ),
        "SNNMT",
        5,
        (
            _attr(
                "waste_type",
                "multivaluelist",
                False,
                1,
                ("Loại chất thải", "Kind of waste"),
                (
                    ("household", "Rác sinh hoạt", "Household waste"),
                    ("construction", "Xà bần, phế thải xây dựng", "Construction rubble"),
                    ("bulky", "Đồ cồng kềnh", "Bulky items"),
                    ("hazardous", "Chất thải nguy hại", "Hazardous waste"),
                    ("liquid", "Nước thải, dầu nhớt", "Wastewater or oil"),
                ),
            ),
        ),
    ),
    _entry(
        "fallen-tree",
        ("Cây xanh gãy đổ, nguy hiểm", "Fallen or dangerous tree"),
        (
            "Cây xanh đô thị bị gãy, đổ, nghiêng hoặc cành khô có nguy cơ rơi.",
            "A street tree that has fallen, broken or leans, or dead branches that may fall.",
        ),
        INFRASTRUCTURE,
        (("cây xanh", "cây đổ", "cành gãy", "cay do"), ("tree", "fallen tree", "branch")),
        "SXD",
        3,
        (
            _attr(
                "situation",
                "singlevaluelist",
                True,
                1,
                ("Tình trạng cây", "Situation"),
                (
                    ("road_blocked", "Đổ chắn đường", "Fallen across the road"),
                    ("leaning", "Nghiêng, có nguy cơ đổ", "Leaning, may fall"),
                    ("branch_fallen", "Cành gãy, rơi", "Broken or fallen branch"),
                    ("on_wires", "Đè lên dây điện", "Resting on power lines"),
                ),
            ),
        ),
    ),
    _entry(
        "sidewalk-encroachment",
        ("Lấn chiếm vỉa hè, lòng đường", "Sidewalk or roadway encroachment"),
        (
            "Buôn bán, để xe, vật dụng hoặc xây dựng lấn chiếm vỉa hè, lòng đường.",
            "Trading, parking, goods or construction occupying the sidewalk or the roadway.",
        ),
        ORDER,
        (
            ("lấn chiếm", "vỉa hè", "lòng đường", "buôn bán", "lan chiem"),
            ("encroachment", "sidewalk", "pavement", "street vendor"),
        ),
        "CATP",
        7,
    ),
    _entry(
        "noise",
        ("Tiếng ồn", "Noise disturbance"),
        (
            "Tiếng ồn quá mức từ karaoke, loa kéo, công trình, cơ sở kinh doanh hoặc xe cộ.",
            "Excessive noise from karaoke, loudspeakers, building sites, businesses or vehicles.",
        ),
        ORDER,
        (
            ("tiếng ồn", "karaoke", "loa kéo", "ồn ào", "tieng on"),
            ("noise", "karaoke", "loudspeaker"),
        ),
        "CATP",
        3,
        (
            _attr(
                "source",
                "singlevaluelist",
                False,
                1,
                ("Nguồn gây ồn", "Source of the noise"),
                (
                    ("karaoke", "Karaoke, loa kéo", "Karaoke, loudspeakers"),
                    ("construction", "Công trình xây dựng", "Building site"),
                    ("business", "Cơ sở kinh doanh, sản xuất", "Business or workshop"),
                    ("vehicle", "Xe cộ", "Vehicles"),
                    ("other", "Khác", "Other"),
                ),
            ),
            _attr(
                "observed_at",
                "datetime",
                False,
                2,
                ("Thời điểm xảy ra", "When it happened"),
                datatype_description=(
                    "Ngày giờ theo ISO 8601, ví dụ 2026-12-04T22:30:00+07:00",
                    "ISO 8601 date and time, e.g. 2026-12-04T22:30:00+07:00",
                ),
            ),
        ),
    ),
    _entry(
        "water-supply",
        ("Sự cố cấp nước", "Water supply problem"),
        (
            "Mất nước, nước yếu, nước đục hoặc có mùi, vỡ hoặc rò rỉ đường ống cấp nước.",
            "No water, low pressure, dirty or smelly water, a burst or leaking supply pipe.",
        ),
        INFRASTRUCTURE,
        (
            ("cấp nước", "mất nước", "vỡ ống", "nước sạch", "mat nuoc"),
            ("water supply", "no water", "burst pipe", "leak"),
        ),
        "SXD",
        3,
        (
            _attr(
                "problem",
                "singlevaluelist",
                True,
                1,
                ("Loại sự cố", "Kind of problem"),
                (
                    ("no_water", "Mất nước", "No water"),
                    ("low_pressure", "Nước yếu", "Low pressure"),
                    ("dirty_water", "Nước đục, có mùi", "Dirty or smelly water"),
                    ("pipe_leak", "Vỡ, rò rỉ đường ống", "Burst or leaking pipe"),
                ),
            ),
        ),
    ),
    _entry(
        "drainage",
        ("Cống, hố ga thoát nước hư hỏng", "Blocked or damaged drain"),
        (
            "Cống thoát nước bị tắc, hố ga mất nắp hoặc vỡ nắp, cống bốc mùi hôi.",
            "A blocked drain, a missing or broken manhole cover, a smelly sewer.",
        ),
        INFRASTRUCTURE,
        (
            ("cống", "hố ga", "thoát nước", "nắp cống", "cong"),
            ("drain", "manhole", "sewer", "gully"),
        ),
        "SXD",
        7,
        (
            _attr(
                "problem",
                "singlevaluelist",
                False,
                1,
                ("Loại sự cố", "Kind of problem"),
                (
                    ("blocked", "Tắc nghẽn", "Blocked"),
                    ("missing_cover", "Mất nắp hố ga", "Missing manhole cover"),
                    ("broken_cover", "Nắp hố ga vỡ", "Broken manhole cover"),
                    ("odour", "Bốc mùi hôi", "Bad smell"),
                ),
            ),
        ),
    ),
    _entry(
        "other",
        ("Phản ánh khác", "Other issue"),
        (
            "Vấn đề đô thị khác chưa có trong danh mục; Văn phòng UBND sẽ chuyển đơn vị phù hợp.",
            "Any other city issue not in this list; the City Office passes it to the right body.",
        ),
        OTHER,
        (("khác", "góp ý", "phản ánh"), ("other", "feedback")),
        "VPUB",
        10,
    ),
)


def find_entry(code: str) -> CatalogueEntry | None:
    """The seed entry with this service_code, or None."""
    return next((e for e in CATALOGUE if e.service_code == code), None)


def to_service(entry: CatalogueEntry, lang: str = "vi") -> Service:
    """A catalogue entry as an Open311 service in Vietnamese ("vi") or English ("en")."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}")
    english = lang == "en"
    attributes = entry.attributes_en if english else entry.attributes
    return Service(
        service_code=entry.service_code,
        service_name=entry.name_en if english else entry.name_vi,
        description=entry.description_en if english else entry.description_vi,
        group=entry.group_en if english else entry.group,
        keywords=entry.keywords_en if english else entry.keywords,
        metadata=bool(attributes),
        attributes=attributes,
    )
