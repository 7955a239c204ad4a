"""Deterministic demo data of a small online shop, generated in Spark.

Every value is a pure function of ``(seed, scale, day)`` and of a row's key: a row is
computed from ``spark.range`` with hash-based pseudo-randomness (``xxhash64`` of the seed, a
salt naming the decision, and the key), never from a Python loop over rows or a ``collect``.
So the same parameters give the same rows on any cluster, a day can be generated alone, and
the volume grows from thousands to tens of millions of rows with the scale factor.

Entities (one function each, ``spark, scale, day -> DataFrame``, no I/O):

- customers and products: rows of the shop's operational database. Day 0 is the initial load
  (every customer who signed up before the first day or on it, every product); each later day
  holds that day's sign-ups and the customers whose email, phone, city or segment changed (the
  same key again, with a later ``updated_at``), and the products whose price changed.
- orders: the day's CSV drop, with its mess: exact duplicate lines, late updates of earlier
  orders (a new status, a later ``updated_at``), empty ``customer_id``, orders of customers who
  reach the database only the next day, and malformed lines. From ``coupon_day`` on, each line
  has one more, trailing column ``coupon_code``.
- order_lines: the day's Parquet drop, the lines of the day's new orders.
- tickets: the day's JSON-lines drop of support tickets, free text written from templates of
  :data:`TICKET_TOPICS` (the topic is ground truth, not a landed field); some lines malformed.

Counts at scale ``s`` (day ``d`` counted from 0; ``ceil`` makes each kind of mess appear at
least once a day, so at small scales those rates are higher than nominal):

- customers before the first day ``C0 = max(20, round(2000 s))``; sign-ups a day
  ``S = max(1, round(0.01 C0))``, ids ``C0 + S d + 1 .. C0 + S (d + 1)`` on day ``d``.
  Each customer's email, phone, city and segment change on their own seeded schedule (every
  60 to 1,000 days): about 1.5 % of customers change a day.
- products ``P = max(10, round(300 s))``; each price changes every 20 to 60 days (seeded).
- new orders ``N_d = max(1, round(1000 s * weekday factor (0.92..1.15) * jitter (0.9..1.1)))``,
  1 to 6 lines each (mean about 2.5); ids continue from day to day.
- in the orders CSV: ``ceil(0.3 % N_d)`` malformed lines, ``ceil(0.5 %)`` with an empty
  ``customer_id``, ``ceil(1 %)`` exact duplicates, ``ceil(0.2 %)`` orphans (disjoint sets of
  new orders), and from day 1 ``min(ceil(5 % N_d), orders of the previous 7 days)`` late updates.
- tickets ``T_d = ceil(6 % N_d)``, of which ``ceil(0.3 % T_d)`` are malformed JSON.

Scale 1 gives 2,000 customers, 300 products, about 1,000 orders, 2,500 order lines and 60
tickets a day; scale 0.1 gives 200, 30, about 100, 250 and 6; scale 1000 gives 2 million
customers and about 2.5 million order lines a day.

Behaviour behind the numbers: customers are active from sign-up until a hidden churn day
(:func:`build_customer_churn`). Churn is more likely for ``budget`` customers and for
unhappy ones, who also write most of the tickets and return more orders; customers order at
a rate set by their segment and activity. Prices follow each product's category, and an
order's ``total_amount`` is the sum of its lines after discount (coupons apply to every line).

Timestamps are instants (UTC); text files write them as ISO 8601 with ``Z``, so reading them
does not depend on the session time zone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

# --- rates and sizes -----------------------------------------------------------------------
CUSTOMERS_PER_SCALE = 2000
PRODUCTS_PER_SCALE = 300
ORDERS_PER_SCALE = 1000
SIGNUP_RATE = 0.01  # of the initial customers, each day
TICKET_RATE = 0.06  # of the day's new orders
MALFORMED_ORDER_RATE = 0.003
NULL_CUSTOMER_RATE = 0.005
DUPLICATE_RATE = 0.01
ORPHAN_RATE = 0.002
LATE_UPDATE_RATE = 0.05
LATE_UPDATE_WINDOW_DAYS = 7
MALFORMED_TICKET_RATE = 0.003
TICKET_WINDOW_DAYS = 14  # a ticket is about an order of the last two weeks
COUPON_RATE = 0.15
LOGIN_TICKET_RATE = 0.06
# a customer orders less over their last 14 to 42 days before churning, down to a tenth
FADE_DAYS = (14, 42)
FADE_FLOOR = 0.1

# --- landed schemas (file order) -----------------------------------------------------------
CUSTOMERS_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.LongType(), False),
        T.StructField("first_name", T.StringType(), False),
        T.StructField("last_name", T.StringType(), False),
        T.StructField("email", T.StringType(), True),
        T.StructField("phone", T.StringType(), True),
        T.StructField("city", T.StringType(), False),
        T.StructField("country", T.StringType(), False),
        T.StructField("segment", T.StringType(), False),
        T.StructField("signup_date", T.DateType(), False),
        T.StructField("updated_at", T.TimestampType(), False),
    ]
)
PRODUCTS_SCHEMA = T.StructType(
    [
        T.StructField("product_id", T.LongType(), False),
        T.StructField("sku", T.StringType(), False),
        T.StructField("name", T.StringType(), False),
        T.StructField("category", T.StringType(), False),
        T.StructField("brand", T.StringType(), False),
        T.StructField("description", T.StringType(), False),
        T.StructField("price", T.DecimalType(10, 2), False),
        T.StructField("updated_at", T.TimestampType(), False),
    ]
)
# The orders CSV; files before the coupon day lack the last column.
ORDERS_SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.LongType(), False),
        T.StructField("customer_id", T.LongType(), True),
        T.StructField("order_ts", T.TimestampType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("currency", T.StringType(), False),
        T.StructField("total_amount", T.DecimalType(12, 2), False),
        T.StructField("updated_at", T.TimestampType(), False),
        T.StructField("coupon_code", T.StringType(), True),
    ]
)
ORDER_LINES_SCHEMA = T.StructType(
    [
        T.StructField("order_id", T.LongType(), False),
        T.StructField("line_no", T.IntegerType(), False),
        T.StructField("product_id", T.LongType(), False),
        T.StructField("quantity", T.IntegerType(), False),
        T.StructField("unit_price", T.DecimalType(10, 2), False),
        T.StructField("discount_pct", T.DoubleType(), False),
    ]
)
TICKETS_SCHEMA = T.StructType(
    [
        T.StructField("ticket_id", T.LongType(), False),
        T.StructField("customer_id", T.LongType(), False),
        T.StructField("order_id", T.LongType(), True),
        T.StructField("product_id", T.LongType(), True),
        T.StructField("created_at", T.TimestampType(), False),
        T.StructField("channel", T.StringType(), False),
        T.StructField("subject", T.StringType(), False),
        T.StructField("body", T.StringType(), False),
    ]
)
# Columns that build_orders and build_tickets add for tests and ground truth; never landed.
RECORD_KIND = "record_kind"  # orders: new | duplicate | late_update
DEFECT = "defect"  # how the landed line is broken, or null
TOPIC = "topic"  # tickets: a key of TICKET_TOPICS

ORDER_DEFECTS = ("truncated", "bad_amount", "unbalanced_quote")
TICKET_DEFECTS = ("truncated", "unescaped_quote")

# --- vocabulary ----------------------------------------------------------------------------
FIRST_NAMES = (
    "Anna", "Lukas", "Sophie", "Leon", "Marie", "Jonas", "Emma", "Paul", "Mia", "Felix", "Lea", "Noah",
    "Camille", "Hugo", "Chloé", "Louis", "Inès", "Lucas", "Lucía", "Mateo", "Sofia", "Pablo", "Giulia",
    "Marco", "Chiara", "Luca", "Daan", "Sanne", "Oliver", "Amelia", "Harry", "Isla", "Jack", "Freya",
    "Elias", "Astrid", "Søren", "Zofia", "Jakub", "Maja", "Hannah", "David", "Sara", "Tom", "Nina",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Martin", "Bernard",
    "Dubois", "Laurent", "Moreau", "García", "Fernández", "López", "Martínez", "Rossi", "Russo",
    "Ferrari", "Bianchi", "de Jong", "Jansen", "Bakker", "Visser", "Smith", "Jones", "Taylor", "Brown",
    "Wilson", "Evans", "Johansson", "Andersson", "Nowak", "Kowalski", "Huber", "Gruber", "Keller",
    "Meier", "O'Brien", "Murphy",
)  # fmt: skip
EMAIL_DOMAINS = (
    "gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me", "gmx.de",
    "web.de", "orange.fr", "libero.it",
)  # fmt: skip
# country: (weight, dialling code, currency, cities)
COUNTRIES = {
    "DE": (0.25, "49", "EUR", ("Berlin", "Hamburg", "Munich", "Cologne", "Frankfurt", "Leipzig")),
    "FR": (0.15, "33", "EUR", ("Paris", "Lyon", "Marseille", "Toulouse", "Lille")),
    "GB": (0.12, "44", "GBP", ("London", "Manchester", "Birmingham", "Leeds")),
    "ES": (0.10, "34", "EUR", ("Madrid", "Barcelona", "Valencia", "Seville")),
    "IT": (0.10, "39", "EUR", ("Rome", "Milan", "Naples", "Turin")),
    "NL": (0.08, "31", "EUR", ("Amsterdam", "Rotterdam", "Utrecht")),
    "AT": (0.05, "43", "EUR", ("Vienna", "Graz", "Linz")),
    "CH": (0.05, "41", "CHF", ("Zurich", "Geneva", "Basel")),
    "PL": (0.05, "48", "PLN", ("Warsaw", "Krakow", "Gdansk")),
    "SE": (0.05, "46", "SEK", ("Stockholm", "Gothenburg", "Malmo")),
}
# segment: (share of sign-ups, churn hazard a day, order rate weight)
SEGMENTS = {
    "budget": (0.35, 0.010, 0.6),
    "standard": (0.40, 0.005, 0.8),
    "premium": (0.18, 0.0025, 1.0),
    "business": (0.07, 0.002, 1.0),
}
COUPONS = {"WELCOME10": 10, "WINTER15": 15, "SAVE5": 5, "VIP20": 20, "FREESHIP": 0}
PROMO_DISCOUNTS = (5, 10, 15, 20, 25, 30)
CHANNELS = {"email": 0.5, "web_form": 0.3, "chat": 0.15, "phone": 0.05}
# hour of day: relative weight of orders placed in it
ORDER_HOURS = (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 6, 7, 8, 8, 6, 4, 2)
PRODUCT_MODELS = (
    "Pulse", "Nova", "Aria", "Echo", "Zen", "Aero", "Vista", "Core", "Flex", "Prime", "Terra", "Luma",
)  # fmt: skip


@dataclass(frozen=True)
class Category:
    """A product category: the words its products are named and described with."""

    name: str
    code: str
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    leads: tuple[str, ...]  # opens the description: "<lead> <noun> with <spec> and <spec>."
    specs: tuple[str, ...]
    uses: tuple[str, ...]
    extras: tuple[str, ...]
    price_range: tuple[int, int]  # whole currency units
    topics: tuple[str, ...]  # ticket topics about its products; repeats weigh a topic


_GENERIC_TOPICS = (
    "damaged_package", "late_delivery", "wrong_item", "refund_not_received", "double_charge",
    "coupon_not_working", "cancel_order",
)  # fmt: skip
CATEGORIES = (
    Category(
        "Audio", "AUD", ("Sonora", "Auralis", "Beatline"),
        ("over-ear headphones", "wireless earbuds", "portable speaker", "soundbar"),
        ("Noise-cancelling", "Wireless", "Water-resistant", "Compact"),
        ("a 30-hour battery", "Bluetooth 5.3 multipoint pairing", "deep, balanced bass",
         "fast USB-C charging", "a built-in microphone for calls"),
        ("Made for commuting, travel and long work days.",
         "Pairs instantly with phones, tablets and laptops.", "Rich sound at home or on the go."),
        ("Comes with a carrying case and a charging cable.", "Touch controls for volume, tracks and calls.",
         "Includes three sizes of ear tips."),
        (19, 349),
        ("battery_drain", "battery_drain", "battery_drain", "defective_product", "defective_product",
         "missing_parts", *_GENERIC_TOPICS),
    ),
    Category(
        "Phones & Tablets", "PHN", ("Novatek", "Lumo", "Orbix"),
        ("smartphone", "tablet", "e-reader", "smartwatch"),
        ("Slim", "Rugged", "Lightweight", "Fast-charging"),
        ("a 6.5-inch OLED display", "128 GB of storage", "an all-day 5000 mAh battery",
         "a triple camera with night mode", "5G and dual SIM"),
        ("Stay connected wherever you are.", "Built for streaming, reading and video calls.",
         "Smooth everyday performance."),
        ("Ships with a USB-C cable and a quick-start guide.", "Two years of software updates included.",
         "Screen protector pre-installed."),
        (59, 1199),
        ("battery_drain", "battery_drain", "battery_drain", "defective_product", "defective_product",
         *_GENERIC_TOPICS),
    ),
    Category(
        "Computers", "CMP", ("Keyra", "Voltix", "Quanta"),
        ("laptop", "monitor", "mechanical keyboard", "wireless mouse"),
        ("Ultra-thin", "Ergonomic", "High-performance", "Quiet"),
        ("a 14-inch anti-glare screen", "16 GB RAM and a 512 GB SSD", "up to 12 hours of battery life",
         "hot-swappable switches", "adjustable DPI up to 16000"),
        ("Ideal for work, study and gaming.", "Designed for long sessions at the desk.",
         "Sets up in minutes on Windows, macOS and Linux."),
        ("Includes a 65 W charger.", "Comes with a braided cable and a keycap puller.",
         "Wall mount adapter in the box."),
        (19, 1899),
        ("battery_drain", "battery_drain", "defective_product", "defective_product", "missing_parts",
         "missing_parts", *_GENERIC_TOPICS),
    ),
    Category(
        "Home & Kitchen", "HOM", ("Casaro", "Kitchly", "Hearthwell"),
        ("coffee machine", "blender", "air fryer", "knife set", "cookware set"),
        ("Stainless steel", "Compact", "Programmable", "Family-size"),
        ("a 1.5-litre removable water tank", "hardened steel blades", "five cooking presets",
         "dishwasher-safe parts", "a non-stick ceramic coating"),
        ("Makes everyday cooking quick and easy.", "Fits neatly on any kitchen counter.",
         "Easy to clean after every use."),
        ("Includes a recipe booklet.", "Comes with a cleaning brush.", "Spare seals included."),
        (15, 499),
        ("defective_product", "defective_product", "damaged_package", "damaged_package", "missing_parts",
         "missing_parts", *_GENERIC_TOPICS),
    ),
    Category(
        "Clothing", "CLO", ("Northway", "Urbanite", "Fjell"),
        ("hoodie", "rain jacket", "slim-fit jeans", "merino t-shirt", "wool sweater"),
        ("Classic", "Lightweight", "Warm", "Everyday"),
        ("soft organic cotton", "a water-repellent finish", "a relaxed regular fit", "reinforced seams",
         "breathable merino wool"),
        ("Layers easily for city and trail.", "Keeps its shape wash after wash.",
         "Comfortable from morning to night."),
        ("Machine washable at 30 degrees.", "Available in five colours.",
         "Made in a certified fair-trade factory."),
        (12, 249),
        ("wrong_size", "wrong_size", "wrong_size", "wrong_size", "wrong_item", "refund_not_received",
         *_GENERIC_TOPICS),
    ),
    Category(
        "Shoes", "SHO", ("Stride", "Trailfox", "Kicko"),
        ("running shoes", "sneakers", "hiking boots", "sandals"),
        ("Lightweight", "Waterproof", "Cushioned", "Classic"),
        ("a cushioned foam midsole", "a grippy rubber outsole", "a breathable mesh upper",
         "waterproof leather", "a removable insole"),
        ("Built for daily miles.", "Ready for rough trails and city streets.", "All-day comfort."),
        ("Spare laces included.", "Comes in a recycled shoe box.", "Half sizes available."),
        (25, 229),
        ("wrong_size", "wrong_size", "wrong_size", "wrong_size", "refund_not_received", *_GENERIC_TOPICS),
    ),
    Category(
        "Sports & Outdoors", "SPT", ("Peakline", "Kinetic", "Campa"),
        ("yoga mat", "adjustable dumbbell set", "two-person tent", "bike helmet", "insulated water bottle"),
        ("Durable", "Portable", "Non-slip", "All-weather"),
        ("a non-slip textured surface", "quick-lock weight plates", "a 3000 mm waterproof rating",
         "an adjustable fit system", "double-wall vacuum insulation"),
        ("Made for home workouts and outdoor trips.", "Packs small and sets up fast.",
         "Tested in demanding conditions."),
        ("Carry bag included.", "Comes with a repair kit.", "Includes an exercise guide."),
        (9, 399),
        ("missing_parts", "missing_parts", "damaged_package", "defective_product", *_GENERIC_TOPICS),
    ),
    Category(
        "Toys", "TOY", ("Brickle", "Funtastic", "Minimo"),
        ("building set", "remote-control car", "jigsaw puzzle", "plush bear", "wooden train set"),
        ("Colourful", "Educational", "Award-winning", "Classic"),
        ("over 500 pieces", "rechargeable batteries", "1000 precisely cut pieces", "extra-soft fabric",
         "solid beech wood"),
        ("Hours of creative play for the whole family.", "Suitable for ages 6 and up.",
         "Encourages imagination and fine motor skills."),
        ("Step-by-step instructions included.", "Comes in a gift box.", "Spare parts included."),
        (7, 149),
        ("missing_parts", "missing_parts", "missing_parts", "damaged_package", "defective_product",
         *_GENERIC_TOPICS),
    ),
    Category(
        "Beauty", "BEA", ("Lumiere", "Verdana", "Purely"),
        ("face cream", "hair dryer", "shampoo", "perfume", "electric toothbrush"),
        ("Gentle", "Professional", "Natural", "Long-lasting"),
        ("hyaluronic acid", "ionic drying technology", "no sulfates or parabens", "notes of citrus and cedar",
         "a two-minute timer"),
        ("Suitable for sensitive skin.", "Salon results at home.", "Dermatologically tested."),
        ("Recyclable packaging.", "Travel size included.", "Two spare brush heads in the box."),
        (5, 199),
        ("damaged_package", "damaged_package", "defective_product", *_GENERIC_TOPICS),
    ),
)  # fmt: skip


@dataclass(frozen=True)
class TicketTopic:
    """One issue customers write about, with the phrasings their tickets are written from.

    Templates may use ``{product}``, ``{order}``, ``{amount}``, ``{days}``, ``{hours}`` and
    ``{size}``.
    """

    summary: str
    subjects: tuple[str, ...]
    problems: tuple[str, ...]
    details: tuple[str, ...]
    asks: tuple[str, ...]


TICKET_TOPICS: dict[str, TicketTopic] = {
    "battery_drain": TicketTopic(
        "battery drains fast",
        ("Battery drains fast", "Battery life much shorter than advertised",
         "{product} does not hold a charge", "Have to charge it all the time"),
        ("The battery of my {product} drains really fast, it is empty after about {hours} hours.",
         "My {product} loses its charge within a couple of hours, even when I barely use it.",
         "I have to recharge the {product} several times a day, the battery simply does not last.",
         "Since I received the {product} from order {order} it goes from full to zero in no time.",
         "The {product} dies after {hours} hours although the description promises a lot more battery life."),
        ("I already tried a full reset and two different chargers.",
         "It was like this from the first day, so it is not wear.",
         "Even in standby the percentage keeps dropping overnight.",
         "It also gets noticeably warm while charging."),
        ("Can you send me a replacement?", "Is this a known issue with this model?",
         "I would like to exchange it for a working unit.", "How do I get it repaired under warranty?"),
    ),
    "damaged_package": TicketTopic(
        "package arrived damaged",
        ("Package arrived damaged", "Box was crushed on delivery", "Damaged parcel",
         "Item broken in transit"),
        ("My package arrived damaged, the box was completely crushed.",
         "The parcel with order {order} was torn open and soaked when the courier delivered it.",
         "When I opened the box the {product} inside was scratched and dented.",
         "The delivery came in a smashed box and the {product} has a cracked casing.",
         "Order {order} was left at my door with a big hole in the carton and the contents were broken."),
        ("I took photos of the box and the item before throwing anything away.",
         "The outer packaging had no padding at all.",
         "The courier dropped it and left before I could check it.",
         "Small pieces were rattling around loose in the box."),
        ("Please send a new one.", "I would like a replacement or my money back.",
         "How do I return the broken item?", "Can you arrange a pickup of the damaged parcel?"),
    ),
    "refund_not_received": TicketTopic(
        "refund not received",
        ("Refund not received", "Still waiting for my refund", "Where is my money?",
         "Refund missing for returned order"),
        ("I returned order {order} {days} days ago but I have not received my refund yet.",
         "You confirmed my return of the {product}, but the {amount} never came back to my account.",
         "It has been {days} days since you got my return and there is still no refund on my card.",
         "My refund for order {order} is still missing although your email said it was processed.",
         "I sent the {product} back and I am still waiting to be reimbursed."),
        ("The tracking shows the parcel was delivered to your warehouse.",
         "My bank says no credit has arrived from your shop.",
         "I have checked my statement every day this week.",
         "I used the return label you sent me."),
        ("When will I get my money back?", "Please process the refund as soon as possible.",
         "Can you give me a reference for the transfer?", "What is holding up the refund?"),
    ),
    "wrong_size": TicketTopic(
        "wrong size",
        ("Wrong size", "Size does not fit", "Need a different size",
         "Received size {size} but it does not fit"),
        ("The {product} I received is the wrong size, I ordered {size} but it is much smaller.",
         "The {product} does not fit at all, the size runs way too small.",
         "I got a size {size} in order {order} but that is not what I picked.",
         "The {product} is far too big, the size chart on the website seems wrong.",
         "Unfortunately the {product} is too tight even though I always wear {size}."),
        ("The label inside says a different size than the packing slip.",
         "I measured it against the size chart and it is off by a lot.",
         "Other items I have from this brand fit fine.",
         "I have not worn it, the tags are still attached."),
        ("Can I exchange it for a bigger size?", "Please send me the right size.",
         "How can I swap it for another size?", "I would like to return it for a refund."),
    ),
    "login_problem": TicketTopic(
        "login problem",
        ("Cannot log in", "Login problem", "Locked out of my account", "Password reset not working"),
        ("I cannot log in to my account, it keeps saying my password is wrong.",
         "The password reset email never arrives, so I am locked out of my account.",
         "Every time I try to sign in the page reloads and I am back at the login screen.",
         "My account got locked after I entered my password a few times.",
         "I am unable to access my account since yesterday, the app shows an error when I sign in."),
        ("I tried both the app and the website.", "I already cleared my browser cache and cookies.",
         "I checked my spam folder for the reset link.", "The two-factor code is never accepted."),
        ("Can you reset my access?", "Please help me get back into my account.",
         "Can you check what is wrong with my login?", "Please unlock my account."),
    ),
    "late_delivery": TicketTopic(
        "delivery is late",
        ("Delivery is late", "Order not arrived yet", "Where is my package?", "Parcel still not delivered"),
        ("My order {order} still has not arrived, it was supposed to be here {days} days ago.",
         "I have been waiting {days} days for the {product} and nothing has arrived.",
         "The tracking for order {order} has not moved for days.",
         "The delivery date has passed and there is still no sign of my parcel.",
         "The {product} was promised for this week but it is nowhere to be seen."),
        ("The tracking page just says in transit.", "I was at home all day and nobody rang the bell.",
         "The courier website does not know the tracking number.", "I need it for a birthday this weekend."),
        ("Can you tell me where it is?", "Please check with the courier.",
         "If it does not come soon I want to cancel.", "Could you send it again with express shipping?"),
    ),
    "wrong_item": TicketTopic(
        "received the wrong item",
        ("Wrong item received", "Not what I ordered", "You sent me the wrong product",
         "Incorrect item in my parcel"),
        ("I received the wrong item, instead of the {product} there was something else in the box.",
         "Order {order} contained a product I never ordered.",
         "The box had someone else's item in it, not my {product}.",
         "You sent me a different model than the {product} I paid for.",
         "What arrived is not the {product} from my order, it is another colour and model."),
        ("The packing slip does show the right product.", "The item in the box looks used.",
         "The barcode does not match my order.", "I have not opened the plastic wrapping."),
        ("Please send the correct item.", "How do I send this back and get the right one?",
         "Can you arrange an exchange?", "I want the product I actually ordered."),
    ),
    "missing_parts": TicketTopic(
        "parts or accessories missing",
        ("Parts missing", "Item incomplete", "Missing pieces in the box",
         "Accessories missing from {product}"),
        ("The {product} arrived without some of its parts.",
         "Some pieces are missing from the {product}, I cannot assemble it.",
         "The box of order {order} was incomplete, the accessories listed in the manual are not there.",
         "The {product} came without the cable and the screws that should be included.",
         "Half of the parts for the {product} are missing, so it is useless as it is."),
        ("I checked the contents against the list in the manual twice.",
         "The inner bags were sealed, so nothing fell out.",
         "My kids were really looking forward to it.",
         "The manual mentions parts that simply are not there."),
        ("Can you send the missing parts?", "Please ship the rest of the pieces.",
         "Otherwise I would like a full replacement.", "How quickly can you send what is missing?"),
    ),
    "defective_product": TicketTopic(
        "product stopped working",
        ("Product stopped working", "Defective {product}", "Broken after a few days", "Does not turn on"),
        ("My {product} stopped working after just {days} days.",
         "The {product} does not turn on anymore, it is completely dead.",
         "The {product} from order {order} is defective, it keeps switching off by itself.",
         "After a week of normal use the {product} broke down.",
         "The {product} makes a strange noise and then shuts off."),
        ("I followed the manual exactly.", "I tried another power outlet.",
         "There is no visible damage on it.", "It worked fine the first few times."),
        ("Can you replace it under warranty?", "I would like a refund for the faulty item.",
         "How do I send it in for repair?", "Please send me one that works."),
    ),
    "double_charge": TicketTopic(
        "charged twice",
        ("Charged twice", "Double payment for my order", "Duplicate charge on my card",
         "Payment taken two times"),
        ("I was charged twice for order {order}, {amount} was taken two times.",
         "My credit card shows two identical payments of {amount} for one order.",
         "You billed me two times for the same purchase.",
         "There is a duplicate charge for the {product} on my bank statement.",
         "The payment for order {order} went through twice although I only clicked once."),
        ("Both charges have the same date.", "I only received one confirmation email.",
         "The checkout page froze when I paid.", "My bank told me to contact the shop first."),
        ("Please refund the extra payment.", "Can you cancel the duplicate charge?",
         "I want the second payment back.", "Please confirm when the double charge is reversed."),
    ),
    "coupon_not_working": TicketTopic(
        "discount code not working",
        ("Discount code not working", "Coupon rejected at checkout", "Promo code invalid",
         "Voucher was not applied"),
        ("The discount code I got by email is not accepted at checkout.",
         "My coupon was not applied to order {order}, I paid the full price.",
         "The promo code says invalid even though it has not expired.",
         "I entered the voucher code but the {product} was still charged at full price.",
         "The discount from your newsletter did not work on my order."),
        ("I copied the code exactly from the email.", "The code should be valid until the end of the month.",
         "It worked for my friend yesterday.", "The basket showed the discount but the final total did not."),
        ("Can you apply the discount afterwards?", "Please refund the difference.",
         "Can you send me a new code that works?", "Please check why the code is rejected."),
    ),
    "cancel_order": TicketTopic(
        "want to cancel an order",
        ("Cancel my order", "Please cancel order {order}", "Order cancellation request", "I changed my mind"),
        ("I would like to cancel order {order}, I ordered it by mistake.",
         "Please cancel my order for the {product}, I no longer need it.",
         "I placed order {order} twice by accident, please cancel one of them.",
         "I changed my mind about the {product} and want to cancel before it ships.",
         "Can you stop order {order}? I found it cheaper elsewhere."),
        ("According to my account it has not shipped yet.",
         "I tried to cancel in the app but the button is greyed out.",
         "I ordered it only a few hours ago.", "The delivery date is too late for me anyway."),
        ("Please confirm the cancellation.", "Please refund the payment to my card.",
         "Let me know once it is cancelled.", "If it has already shipped, how do I return it?"),
    ),
}  # fmt: skip

# What a support agent types to find the tickets about each topic, worded unlike the ticket
# templates above: the labelled set of the demo's retrieval evaluation. A query's relevant
# documents are the tickets of its topic (ground truth ``search_relevance``).
SEARCH_QUERIES: tuple[tuple[str, str], ...] = (
    ("battery_drain", "battery runs out quickly and needs recharging all the time"),
    ("battery_drain", "device will not hold its charge for long"),
    ("damaged_package", "parcel delivered crushed with the item smashed"),
    ("damaged_package", "shipping box was torn and wet on arrival"),
    ("refund_not_received", "returned the goods but the money never came back"),
    ("refund_not_received", "waiting for reimbursement after sending an item back"),
    ("wrong_size", "clothing does not fit, need to swap for another size"),
    ("wrong_size", "item is too tight or too large for me"),
    ("login_problem", "customer locked out and unable to sign in to the account"),
    ("login_problem", "password reset link never arrives"),
    ("late_delivery", "shipment overdue and tracking not updated"),
    ("late_delivery", "order has still not been delivered after the promised date"),
    ("wrong_item", "box contained a different product than the one purchased"),
    ("wrong_item", "customer got someone else's article instead of their order"),
    ("missing_parts", "pieces and accessories absent from the package, cannot assemble"),
    ("missing_parts", "incomplete delivery, cable and screws not included"),
    ("defective_product", "appliance broke down and will not switch on anymore"),
    ("defective_product", "faulty device that shuts off by itself"),
    ("double_charge", "payment taken twice for a single purchase"),
    ("double_charge", "duplicate transaction on the credit card statement"),
    ("coupon_not_working", "promo voucher rejected when paying"),
    ("coupon_not_working", "discount was not applied to the total at checkout"),
    ("cancel_order", "customer wants to stop an order before it ships"),
    ("cancel_order", "request to cancel a purchase made by mistake"),
)


def search_queries(spark: SparkSession) -> DataFrame:
    """The labelled queries of :data:`SEARCH_QUERIES`: ``query_id`` (from 1), ``query``, ``topic``."""
    rows = [(number, query, topic) for number, (topic, query) in enumerate(SEARCH_QUERIES, start=1)]
    return spark.createDataFrame(rows, "query_id int, query string, topic string")


GREETINGS = ("Hello,", "Hi,", "Hi there,", "Dear support team,", "Good morning,", "Hello customer service,")
SIGN_OFFS = ("Thanks, {name}", "Best regards, {name}", "Thank you! {name}", "Kind regards, {name}", "{name}")
CLOTHING_SIZES = ("XS", "S", "M", "L", "XL")
SHOE_SIZES = ("38", "39", "40", "41", "42", "43", "44", "45")

_SECONDS_A_DAY = 86400
_EPOCH = dt.date(1970, 1, 1)
_ORDER_CUSTOMER_CANDIDATES = 8
_TICKET_ORDER_CANDIDATES = 8
_MAX_LINES = 6
_LINES_PER_ORDER = {1: 0.30, 2: 0.28, 3: 0.18, 4: 0.12, 5: 0.07, 6: 0.05}
ORDER_LINES_PER_ORDER = sum(lines * share for lines, share in _LINES_PER_ORDER.items())
_WEEKDAY_FACTORS = (0.95, 0.92, 0.95, 1.0, 1.08, 1.15, 1.05)  # Monday first
# attribute: (shortest, longest) days between two changes of a customer's attribute
_CUSTOMER_CHANGES = {"email": (120, 700), "phone": (150, 900), "city": (200, 1000), "segment": (60, 400)}
_PRICE_CHANGE_DAYS = (20, 60)


@dataclass(frozen=True)
class DemoScale:
    """What demo data to generate: same values, same data.

    Attributes:
        seed: the seed of every pseudo-random decision.
        scale: size factor; 1.0 is about 2,000 customers and 1,000 orders a day (module docstring).
        start_date: the date of day 0.
        days: how many days ``land`` writes (day indexes ``0 .. days - 1``); the data of a day
            does not depend on it.
        coupon_day: the first day whose orders CSV has the ``coupon_code`` column.
        history_days: the first days ``0 .. history_days - 1`` are the shop's history before the
            daily files begin: ``land`` writes them as one export per source (the ``*_history``
            builders), the orders as the shop's table holds them at the end of the history.
    """

    seed: int = 42
    scale: float = 1.0
    start_date: dt.date = dt.date(2026, 1, 1)
    days: int = 7
    coupon_day: int = 2
    history_days: int = 0

    def __post_init__(self) -> None:
        for name in ("seed", "days", "coupon_day", "history_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"DemoScale.{name} must be an int, got {type(value).__name__}")
        if not isinstance(self.scale, int | float) or isinstance(self.scale, bool):
            raise TypeError(f"DemoScale.scale must be a number, got {type(self.scale).__name__}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"DemoScale.scale must be a positive number, got {self.scale}")
        if not isinstance(self.start_date, dt.date) or isinstance(self.start_date, dt.datetime):
            raise TypeError(
                f"DemoScale.start_date must be a datetime.date, got {type(self.start_date).__name__}"
            )
        if self.days < 1:
            raise ValueError(f"DemoScale.days must be >= 1, got {self.days}")
        if self.coupon_day < 0:
            raise ValueError(f"DemoScale.coupon_day must be >= 0, got {self.coupon_day}")
        if not 0 <= self.history_days <= self.days:
            raise ValueError(
                f"DemoScale.history_days must be in 0 .. days ({self.days}), got {self.history_days}"
            )
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"DemoScale.seed must be in 0 .. 2**31 - 1, got {self.seed}")

    @property
    def initial_customers(self) -> int:
        """Customers who signed up before day 0."""
        return max(20, round(CUSTOMERS_PER_SCALE * self.scale))

    @property
    def signups_per_day(self) -> int:
        """Customers who sign up each day."""
        return max(1, round(SIGNUP_RATE * self.initial_customers))

    @property
    def products(self) -> int:
        """Products in the catalogue (the same every day)."""
        return max(10, round(PRODUCTS_PER_SCALE * self.scale))

    def date_of(self, day: int) -> dt.date:
        """The date of day ``day``."""
        return self.start_date + dt.timedelta(days=day)

    def customers_on(self, day: int) -> int:
        """Customers who have signed up by the end of ``day`` (ids ``1 .. customers_on(day)``)."""
        return self.initial_customers + self.signups_per_day * (day + 1)

    def orders_on(self, day: int) -> int:
        """New orders placed on ``day``."""
        factor = _WEEKDAY_FACTORS[self.date_of(day).weekday()] * (
            0.9 + 0.2 * _driver_unit(self.seed, "orders", day)
        )
        return max(1, round(ORDERS_PER_SCALE * self.scale * factor))

    def first_order_id(self, day: int) -> int:
        """The id of the first order of ``day``; a day's ids are consecutive."""
        return 1 + sum(self.orders_on(previous) for previous in range(day))

    def tickets_on(self, day: int) -> int:
        """Support tickets written on ``day``."""
        return math.ceil(TICKET_RATE * self.orders_on(day))

    def first_ticket_id(self, day: int) -> int:
        """The id of the first ticket of ``day``."""
        return 1 + sum(self.tickets_on(previous) for previous in range(day))

    def counts(self, day: int) -> DayCounts:
        """How many rows of each kind ``day`` has (exact, computed without Spark)."""
        _check_day(day)
        orders = self.orders_on(day)
        bands = _mess_bands(orders)
        window = min(day, LATE_UPDATE_WINDOW_DAYS)
        earlier = self.first_order_id(day) - self.first_order_id(day - window)
        tickets = self.tickets_on(day)
        return DayCounts(
            day=day,
            date=self.date_of(day),
            customers=self.customers_on(day),
            new_customers=self.initial_customers + self.signups_per_day if day == 0 else self.signups_per_day,
            products=self.products,
            orders=orders,
            malformed_orders=bands[0],
            null_customer_orders=bands[1],
            duplicate_orders=bands[2],
            orphan_orders=bands[3],
            late_updates=min(math.ceil(LATE_UPDATE_RATE * orders), earlier),
            tickets=tickets,
            malformed_tickets=min(tickets, math.ceil(MALFORMED_TICKET_RATE * tickets)),
        )


@dataclass(frozen=True)
class DayCounts:
    """Exact row counts of one day (see the module docstring for the formulas).

    ``orders`` counts new orders; the orders CSV has ``orders + duplicate_orders +
    late_updates`` data lines, of which ``malformed_orders`` are malformed.
    """

    day: int
    date: dt.date
    customers: int
    new_customers: int
    products: int
    orders: int
    malformed_orders: int
    null_customer_orders: int
    duplicate_orders: int
    orphan_orders: int
    late_updates: int
    tickets: int
    malformed_tickets: int

    @property
    def order_records(self) -> int:
        """Data lines of the day's orders CSV (new orders, duplicates and late updates)."""
        return self.orders + self.duplicate_orders + self.late_updates


# --- public builders ------------------------------------------------------------------------
#
# Row values are Spark SQL expressions built as text (the helpers below return SQL) and
# handed to Spark in one ``selectExpr`` per step: building the same expressions with
# ``pyspark.sql.functions`` costs one Py4J round trip per function, thousands per frame.


def build_customer_snapshot(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """Every customer as the operational database holds them at the end of ``day``.

    Returns:
        One row per customer signed up by the end of ``day`` (:data:`CUSTOMERS_SCHEMA`).
    """
    _check_day(day)
    return _customer_rows(_ids(spark, 1, scale.customers_on(day), "customer_id"), scale, day)


def build_customers(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """The customer rows that reach the operational database on ``day``.

    Day 0 is the initial load (every customer signed up by the end of day 0); a later day holds
    its sign-ups and the existing customers whose email, phone, city or segment changed that
    day, each with its state at the end of the day and ``updated_at`` on that day.

    Returns:
        One row per new or changed customer (:data:`CUSTOMERS_SCHEMA`).
    """
    _check_day(day)
    ids = _ids(spark, 1, scale.customers_on(day), "customer_id")
    if day > 0:
        signup = _CustomerTraits(scale, "customer_id").signup_day
        changed = " OR ".join(
            schedule.changes_on(str(day)) for schedule in _customer_schedules(scale, "customer_id").values()
        )
        ids = ids.where(f"{signup} = {day} OR ({signup} < {day} AND ({changed}))")
    return _customer_rows(ids, scale, day)


def build_customer_churn(
    spark: SparkSession, scale: DemoScale, day: int, last_day: int | None = None
) -> DataFrame:
    """Ground truth of churn for the customers who sign up on ``day`` (day 0: and before it), or
    on ``day .. last_day``.

    A customer places orders from sign-up until ``churn_date`` (exclusive); a date before the
    first day means the customer never orders in the data. Not part of the landed data: it is
    there to evaluate a churn model.

    Returns:
        One row per customer: ``customer_id``, ``signup_segment``, ``unhappiness`` (0..1,
        drives tickets, returns and churn), ``churn_date``.
    """
    _check_day(day)
    first = 1 if day == 0 else scale.customers_on(day - 1) + 1
    traits = _CustomerTraits(scale, "customer_id")
    last = scale.customers_on(day if last_day is None else last_day)
    return _ids(spark, first, last, "customer_id").selectExpr(
        "customer_id",
        f"{_pick(list(SEGMENTS), traits.signup_segment)} AS signup_segment",
        f"{traits.unhappiness} AS unhappiness",
        f"{_date(scale, traits.churn_day)} AS churn_date",
    )


def build_product_snapshot(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """Every product with its price at the end of ``day``.

    Returns:
        One row per product (:data:`PRODUCTS_SCHEMA`).
    """
    _check_day(day)
    return _product_rows(_ids(spark, 1, scale.products, "product_id"), scale, day)


def build_products(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """The product rows that reach the operational database on ``day``.

    Day 0 is the initial load of the catalogue; a later day holds the products whose price
    changed that day.

    Returns:
        One row per new or changed product (:data:`PRODUCTS_SCHEMA`).
    """
    _check_day(day)
    ids = _ids(spark, 1, scale.products, "product_id")
    if day > 0:
        ids = ids.where(_ProductTraits(scale, "product_id").price_schedule.changes_on(str(day)))
    return _product_rows(ids, scale, day)


def build_orders(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """The order records of ``day``'s CSV drop, typed, with the truth about their mess.

    Returns:
        One row per data line of the day's file: the columns of :data:`ORDERS_SCHEMA`
        (without ``coupon_code`` before ``scale.coupon_day``), then ``record_kind`` (``new``,
        ``duplicate`` or ``late_update``) and ``defect`` (how :func:`format_orders_csv`
        breaks the line, one of :data:`ORDER_DEFECTS`, or null). Neither extra column is landed.
    """
    _check_day(day)
    counts = scale.counts(day)
    days = _OrderDays(scale, day)
    new = _ids(spark, scale.first_order_id(day), counts.orders, "order_id", count=True)
    new = _with_order_facts(new.selectExpr("order_id", f"{day} AS order_day"), scale, days)
    defect = _pick(ORDER_DEFECTS, _index(scale, "order_defect", len(ORDER_DEFECTS), "order_id"))
    # a duplicate is the same line twice: a second copy of the row, not a second computation
    new = new.selectExpr(
        "*",
        f"CASE WHEN band = 'malformed' THEN {defect} END AS {DEFECT}",
        "explode(sequence(1, CASE WHEN band = 'duplicate' THEN 2 ELSE 1 END)) AS copy",
    )
    records = [new.selectExpr("*", f"CASE WHEN copy = 1 THEN 'new' ELSE 'duplicate' END AS {RECORD_KIND}")]
    if counts.late_updates:
        records.append(_late_updates(spark, scale, days, counts.late_updates))
    columns = [field.name for field in ORDERS_SCHEMA.fields]
    if day < scale.coupon_day:
        columns.remove("coupon_code")
    result = records[0].select(*columns, RECORD_KIND, DEFECT)
    for frame in records[1:]:
        result = result.unionByName(frame.select(*columns, RECORD_KIND, DEFECT))
    return result


def build_order_history(spark: SparkSession, scale: DemoScale) -> DataFrame:
    """Every order of the history (days ``0 .. history_days - 1``), as the shop's orders table
    holds it at the end of the history's last day: the export a shop hands over before its daily
    files begin.

    Each order once, with its latest status (the fate its late updates would give it) and the
    ``updated_at`` of that status; no malformed lines and no duplicates (an export is not a
    drop), but the orders without a customer and the orphans are there.

    Returns:
        The columns of :data:`ORDERS_SCHEMA` (``coupon_code`` once the history reaches
        ``scale.coupon_day``), then ``record_kind`` (``history``) and ``defect`` (null), as
        :func:`format_orders_csv` takes them.

    Raises:
        ValueError: ``scale.history_days`` is 0.
    """
    last = _last_history_day(scale)
    days = _OrderDays(scale, last)
    orders = _with_order_facts(_history_order_days(spark, scale, days), scale, days)
    age = f"({last} - order_day)"
    fate, fate_day = _order_fate(scale, age)
    orders = orders.selectExpr(
        "*",
        f"CASE WHEN {age} = 0 THEN status ELSE {fate} END AS latest_status",
        f"CASE WHEN {age} = 0 THEN order_day ELSE least({last}, order_day + {fate_day}) END AS status_day",
    )
    second = _index(scale, "history_update_second", _SECONDS_A_DAY, "order_id")
    changed_at = _timestamp(scale, "status_day", second)
    updated_at = f"CASE WHEN status_day = order_day THEN updated_at ELSE {changed_at} END"
    landed = [field.name for field in ORDERS_SCHEMA.fields]
    if last < scale.coupon_day:  # the export has the column once the shop has coupons
        landed.remove("coupon_code")
    columns = [name for name in landed if name not in ("status", "updated_at")]
    return orders.selectExpr(
        *columns,
        "latest_status AS status",
        f"{updated_at} AS updated_at",
        f"'history' AS {RECORD_KIND}",
        f"CAST(NULL AS STRING) AS {DEFECT}",
    ).select(*landed, RECORD_KIND, DEFECT)


def build_order_lines(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """The lines of ``day``'s new orders, as the Parquet drop holds them.

    Returns:
        One row per order line (:data:`ORDER_LINES_SCHEMA`), ``line_no`` from 1.
    """
    _check_day(day)
    orders = _ids(spark, scale.first_order_id(day), scale.orders_on(day), "order_id", count=True)
    return _order_lines(orders.selectExpr("order_id", f"{day} AS order_day"), scale)


def build_order_line_history(spark: SparkSession, scale: DemoScale) -> DataFrame:
    """The lines of every order of the history (:func:`build_order_history`).

    Returns:
        One row per order line (:data:`ORDER_LINES_SCHEMA`), ``line_no`` from 1.
    """
    days = _OrderDays(scale, _last_history_day(scale))
    return _order_lines(_history_order_days(spark, scale, days), scale)


def _history_order_days(spark: SparkSession, scale: DemoScale, days: _OrderDays) -> DataFrame:
    """Every order id of the history (``days``: its order days) with the day it was placed."""
    orders = _ids(spark, 1, days.firsts[-1] - 1, "order_id")
    return orders.selectExpr("order_id", f"{days.day_of('order_id', 0)} AS order_day")


def _order_lines(orders: DataFrame, scale: DemoScale) -> DataFrame:
    """The lines of the orders of ``orders`` (``order_id``, ``order_day``)."""
    lines = orders.selectExpr(
        "order_id",
        "order_day",
        f"{_coupon(scale, 'order_id', 'order_day')} AS coupon_code",
        f"explode(sequence(1, {_line_count(scale, 'order_id')})) AS line_no",
    )
    facts = _LineFacts(scale, "order_id", "line_no", "order_day", "coupon_code")
    return lines.selectExpr(
        "order_id",
        "line_no",
        f"{facts.product} AS product_id",
        f"{facts.quantity} AS quantity",
        f"{_cents_to_price(facts.unit_cents, 10)} AS unit_price",
        f"{facts.discount} / 100.0D AS discount_pct",
    )


def build_tickets(spark: SparkSession, scale: DemoScale, day: int) -> DataFrame:
    """The support tickets written on ``day``, with their topic.

    A ticket is mostly about an order of the last two weeks and one of its products; unhappy
    customers write most of them. Login tickets have no order and no product.

    Returns:
        One row per ticket: the columns of :data:`TICKETS_SCHEMA`, then ``topic`` (a key of
        :data:`TICKET_TOPICS`: ground truth, not landed) and ``defect`` (how
        :func:`format_tickets_json` breaks the line, one of :data:`TICKET_DEFECTS`, or null).
    """
    _check_day(day)
    counts = scale.counts(day)
    first_ticket = scale.first_ticket_id(day)
    tickets = _ids(spark, first_ticket, counts.tickets, "ticket_id", count=True)
    offset = int(_driver_unit(scale.seed, "ticket_defect", day) * counts.tickets)
    position = f"pmod((ticket_id - {first_ticket}) * {_stride(counts.tickets)} + {offset}, {counts.tickets})"
    defect_kind = _pick(TICKET_DEFECTS, _index(scale, "ticket_defect_kind", len(TICKET_DEFECTS), "ticket_id"))
    defect = f"CASE WHEN {position} < {counts.malformed_tickets} THEN {defect_kind} END"
    return _tickets(tickets.selectExpr("ticket_id", f"{day} AS ticket_day"), scale, day, day, defect)


def build_ticket_history(spark: SparkSession, scale: DemoScale) -> DataFrame:
    """Every support ticket of the history (days ``0 .. history_days - 1``), as the help desk
    exports them: the rows of :func:`build_tickets` of each day, without malformed ones.

    Returns:
        The columns of :func:`build_tickets` (``defect`` null).
    """
    last = _last_history_day(scale)
    firsts = [scale.first_ticket_id(day) for day in range(last + 2)]
    tickets = _ids(spark, 1, firsts[-1] - 1, "ticket_id")
    tickets = tickets.selectExpr("ticket_id", f"{_day_of('ticket_id', firsts, 0)} AS ticket_day")
    return _tickets(tickets, scale, 0, last, "NULL")


def _tickets(tickets: DataFrame, scale: DemoScale, first_day: int, last_day: int, defect: str) -> DataFrame:
    """The tickets of ``tickets`` (``ticket_id``, ``ticket_day`` in ``first_day .. last_day``),
    with ``defect`` (an SQL expression of ``ticket_id``) as their defect."""
    chosen = _ticket_orders(tickets, scale, first_day, last_day)
    chosen = chosen.selectExpr(
        "*",
        f"{_coupon(scale, 'order_id', 'order_day')} AS coupon_code",
        f"{_line_count(scale, 'order_id')} AS line_count",
    )
    line = f"1 + {_index(scale, 'ticket_line', 'line_count', 'ticket_id')}"
    traits = _CustomerTraits(scale, "customer_id")
    phone = _customer_schedules(scale, "customer_id")["phone"]
    since = f"greatest({traits.signup_day}, 0)"
    chosen = chosen.selectExpr(
        "*",
        f"{_order_total_cents(scale, 'order_id', 'order_day', 'coupon_code', 'line_count')} AS total_cents",
        f"{_LineFacts(scale, 'order_id', line, 'order_day', 'coupon_code').product} AS line_product",
        f"{_unit(scale, 'ticket_login', 'ticket_id')} < {LOGIN_TICKET_RATE}D AS is_login",
        f"{traits.country_index} AS country_index",
        f"greatest({phone.count('ticket_day')} - {phone.count(since)}, 0) AS phone_version",
    )
    product = _ProductTraits(scale, "line_product")
    topic_keys = list(TICKET_TOPICS)
    topics = _nested_array([[topic_keys.index(topic) for topic in cat.topics] for cat in CATEGORIES])
    category_topics = _element(topics, product.category)
    topic_draw = _index(scale, "ticket_topic", f"size({category_topics})", "ticket_id")
    topic = (
        f"CASE WHEN is_login THEN {topic_keys.index('login_problem')} "
        f"ELSE {_element(category_topics, topic_draw)} END"
    )
    order_second = _order_second(scale, "order_id")
    after_order = _index(scale, "ticket_second", f"{_SECONDS_A_DAY} - {order_second}", "ticket_id")
    second = (
        f"CASE WHEN order_day = ticket_day AND NOT is_login THEN {order_second} + {after_order} "
        f"ELSE {_index(scale, 'ticket_second', _SECONDS_A_DAY, 'ticket_id')} END"
    )
    chosen = chosen.selectExpr(
        "*",
        f"{topic} AS topic_index",
        f"{product.category} AS category_index",
        f"{product.name} AS product_name",
        f"{_timestamp(scale, 'ticket_day', second)} AS created_at",
        f"{_pick([currency for _, _, currency, _ in COUNTRIES.values()], 'country_index')} AS currency",
        f"{_customer_phone(scale, 'customer_id', 'country_index', 'phone_version')} AS phone",
    )
    subject, body, lower_case = _ticket_text(scale)
    chosen = chosen.selectExpr("*", f"{subject} AS subject", f"{body} AS written_body")
    return chosen.selectExpr(
        "ticket_id",
        "customer_id",
        "CASE WHEN NOT is_login THEN order_id END AS order_id",
        "CASE WHEN NOT is_login THEN line_product END AS product_id",
        "created_at",
        f"{_weighted_pick(scale, 'ticket_channel', CHANNELS, 'ticket_id')} AS channel",
        "subject",
        f"CASE WHEN {lower_case} THEN lower(written_body) ELSE written_body END AS body",
        f"{_pick(topic_keys, 'topic_index')} AS {TOPIC}",
        f"CAST({defect} AS STRING) AS {DEFECT}",
    )


def _ticket_orders(tickets: DataFrame, scale: DemoScale, first_day: int, last_day: int) -> DataFrame:
    """The order (and its day and customer) each ticket of ``tickets`` is about.

    Candidate orders of the two weeks up to the ticket's day are drawn; the first whose customer
    is unhappy enough to write is kept.
    """
    days = _OrderDays(scale, last_day)
    # per ticket day (from day 0): the first order of its window and the window's size
    window_firsts = [scale.first_order_id(max(0, day - TICKET_WINDOW_DAYS)) for day in range(last_day + 1)]
    windows = [scale.first_order_id(day + 1) - first for day, first in enumerate(window_firsts)]
    candidates = tickets.selectExpr(
        "ticket_id", "ticket_day", f"explode(sequence(0, {_TICKET_ORDER_CANDIDATES - 1})) AS candidate"
    )
    drawn = _index(scale, "ticket_order", _pick(windows, "ticket_day"), "ticket_id", "candidate")
    candidates = candidates.selectExpr(
        "ticket_id", "ticket_day", "candidate", f"{_pick(window_firsts, 'ticket_day')} + {drawn} AS order_id"
    )
    order_day = days.day_of("order_id", max(0, first_day - TICKET_WINDOW_DAYS))
    candidates = candidates.selectExpr("*", f"{order_day} AS order_day")
    candidates = candidates.selectExpr("*", f"{days.band('order_id', 'order_day')} AS band")
    candidates = _with_true_customer(candidates, scale).withColumnRenamed("true_customer", "customer_id")
    unhappiness = _CustomerTraits(scale, "customer_id").unhappiness
    draw = _unit(scale, "ticket_accept", "ticket_id", "candidate")
    accepted = f"{draw} < 0.05D + 0.95D * {unhappiness} * {unhappiness}"
    rank = f"CASE WHEN {accepted} THEN candidate ELSE candidate + {_TICKET_ORDER_CANDIDATES} END"
    chosen = candidates.groupBy("ticket_id", "ticket_day").agg(
        F.min(F.struct(F.expr(rank).alias("rank"), "order_id", "order_day", "customer_id")).alias("chosen")
    )
    return chosen.select(
        "ticket_id", "ticket_day", "chosen.order_id", "chosen.order_day", "chosen.customer_id"
    )


def orders_csv_header(scale: DemoScale, day: int) -> str:
    """The header line of ``day``'s orders CSV (``coupon_code`` only from ``scale.coupon_day``)."""
    columns = [field.name for field in ORDERS_SCHEMA.fields]
    if day < scale.coupon_day:
        columns.remove("coupon_code")
    return ",".join(columns)


def format_orders_csv(orders: DataFrame) -> DataFrame:
    """Write order records as CSV lines (no header), breaking the lines that have a ``defect``.

    Args:
        orders: :func:`build_orders` of one day.

    Returns:
        One row per line: ``order_id``, ``updated_at`` (the file is ordered by them) and
        ``line`` (the text, without a line break).
    """
    fields = [
        F.col("order_id").cast("string"),
        F.coalesce(F.col("customer_id").cast("string"), F.lit("")),
        _iso_instant(F.col("order_ts")),
        F.col("status"),
        F.col("currency"),
        F.col("total_amount").cast("string"),
        _iso_instant(F.col("updated_at")),
    ]
    if "coupon_code" in orders.columns:
        fields.append(F.coalesce(F.col("coupon_code"), F.lit("")))
    defect = F.col(DEFECT)
    # "125.40" -> "125,4O": a decimal comma and a letter O, quoted as a spreadsheet export would
    bad_amount = F.concat(F.lit('"'), F.regexp_replace(fields[5], r"\.(\d)\d$", ",$1O"), F.lit('"'))
    line = (
        F.when(defect == "truncated", F.concat_ws(",", *fields[:3], F.substring(fields[3], 1, 3)))
        .when(defect == "bad_amount", F.concat_ws(",", *fields[:5], bad_amount, *fields[6:]))
        .when(
            defect == "unbalanced_quote",
            F.concat_ws(",", *fields[:3], F.concat(F.lit('"'), fields[3]), *fields[4:]),
        )
        .otherwise(F.concat_ws(",", *fields))
    )
    return orders.select("order_id", "updated_at", line.alias("line"))


def format_tickets_json(tickets: DataFrame) -> DataFrame:
    """Write tickets as JSON lines (explicit nulls), breaking the lines that have a ``defect``.

    Args:
        tickets: :func:`build_tickets` of one day.

    Returns:
        One row per line: ``ticket_id`` (the file is ordered by it) and ``line``.
    """
    fields = [field.name for field in TICKETS_SCHEMA.fields]
    record = F.struct(
        *[_iso_instant(F.col(name)).alias(name) if name == "created_at" else name for name in fields]
    )
    text = F.to_json(record, {"ignoreNullFields": "false"})
    defect = F.col(DEFECT)
    line = (
        F.when(defect == "truncated", text.substr(F.lit(1), (F.length(text) * 0.6).cast("int")))
        .when(
            defect == "unescaped_quote",
            F.regexp_replace(text, '"body":"', '"body":"the box said "FRAGILE" but '),
        )
        .otherwise(text)
    )
    return tickets.select("ticket_id", line.alias("line"))


# --- SQL building blocks ----------------------------------------------------------------------


def _ids(spark: SparkSession, first: int, size: int, name: str, count: bool = False) -> DataFrame:
    """A one-column frame of consecutive ids: ``first .. size`` (or ``size`` ids when ``count``)."""
    last = first + size - 1 if count else size
    return spark.range(first, last + 1).select(F.col("id").alias(name))


def _sql(value: str | int | float) -> str:
    """A Spark SQL literal."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, float):
        return f"{value!r}D"
    return str(value)


def _literal_array(values: Sequence[str | int | float]) -> str:
    return f"array({', '.join(map(_sql, values))})"


def _nested_array(values: Sequence[Sequence[str | int | float]]) -> str:
    return f"array({', '.join(_literal_array(inner) for inner in values)})"


def _hash(scale: DemoScale, salt: str, *keys: str) -> str:
    """A 64-bit hash of the seed, the decision's salt and the keys (each as a bigint)."""
    return f"xxhash64({scale.seed}, '{salt}', {', '.join(f'CAST({key} AS BIGINT)' for key in keys)})"


def _unit(scale: DemoScale, salt: str, *keys: str) -> str:
    """A pseudo-random double in [0, 1)."""
    return f"(CAST(shiftrightunsigned({_hash(scale, salt, *keys)}, 11) AS DOUBLE) / {float(1 << 53)}D)"


def _index(scale: DemoScale, salt: str, size: int | str, *keys: str) -> str:
    """A pseudo-random bigint in [0, size)."""
    return f"pmod({_hash(scale, salt, *keys)}, CAST({size} AS BIGINT))"


def _element(array: str, index: str) -> str:
    """``array[index]``, ``index`` 0-based of any integer type."""
    return f"element_at({array}, CAST({index} AS INT) + 1)"


def _pick(values: Sequence, index: str) -> str:
    """``values[index]`` (0-based) of a list of literals."""
    return _element(_literal_array(values), index)


def _nested_pick(scale: DemoScale, values: Sequence[Sequence[str]], outer: str, salt: str, *keys: str) -> str:
    """A pseudo-random element of ``values[outer]``."""
    choices = _element(_nested_array(values), outer)
    return _element(choices, _index(scale, salt, f"size({choices})", *keys))


def _weighted_index(unit: str, weights: Sequence[float]) -> str:
    """The index whose share of [0, 1) ``unit`` falls in, shares proportional to ``weights``."""
    total, bound, branches = float(sum(weights)), 0.0, []
    for index, weight in enumerate(weights[:-1]):
        bound += weight / total
        branches.append(f"WHEN {unit} < {bound!r}D THEN {index}")
    return f"CASE {' '.join(branches)} ELSE {len(weights) - 1} END" if branches else "0"


def _weighted_pick(scale: DemoScale, salt: str, weights: dict[str, float], *keys: str) -> str:
    return _pick(list(weights), _weighted_index(_unit(scale, salt, *keys), list(weights.values())))


def _driver_unit(seed: int, salt: str, *keys: int) -> float:
    """A pseudo-random float in [0, 1) for values computed on the driver (counts, offsets)."""
    digest = hashlib.blake2b(f"{seed}|{salt}|{'|'.join(map(str, keys))}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _stride(size: int) -> int:
    """A multiplier coprime to ``size`` near size / golden ratio: ``i * stride mod size`` spreads evenly."""
    stride = max(1, int(size * 0.6180339887))
    while math.gcd(stride, size) != 1:
        stride += 1
    return stride


def _day_of(key: str, firsts: Sequence[int], first_day: int) -> str:
    """The day of an id of days ``first_day ..``, given each day's first id (``firsts[day]``,
    then the id after the last day's)."""
    later = [
        f"CASE WHEN {key} >= {firsts[day]} THEN 1 ELSE 0 END" for day in range(first_day + 1, len(firsts) - 1)
    ]
    return f"({' + '.join([str(first_day), *later])})"


def _check_day(day: int) -> None:
    if not isinstance(day, int) or isinstance(day, bool):
        raise TypeError(f"day must be an int (a day index from 0), got {type(day).__name__}")
    if day < 0:
        raise ValueError(f"day must be >= 0, got {day}")


def _timestamp(scale: DemoScale, day: str, second: str) -> str:
    """The instant ``second`` seconds (UTC) into day ``day`` (a day index, may be negative)."""
    start = (scale.start_date - _EPOCH).days * _SECONDS_A_DAY
    return (
        f"timestamp_seconds({start}L + CAST({day} AS BIGINT) * {_SECONDS_A_DAY}L + CAST({second} AS BIGINT))"
    )


def _date(scale: DemoScale, day: str) -> str:
    return f"date_add(DATE'{scale.start_date.isoformat()}', CAST({day} AS INT))"


def _cents_to_price(cents: str, precision: int) -> str:
    return f"CAST(CAST({cents} AS DECIMAL({precision + 2}, 0)) / 100 AS DECIMAL({precision}, 2))"


def _iso_instant(timestamp: Column) -> Column:
    """``2026-01-03T14:22:05Z``, whatever the session time zone."""
    seconds = timestamp.cast("long")  # an instant's epoch seconds do not depend on the time zone
    date = F.date_from_unix_date(F.floor(seconds / _SECONDS_A_DAY).cast("int")).cast("string")
    of_day = F.pmod(seconds, F.lit(_SECONDS_A_DAY))
    parts = [F.floor(of_day / 3600), F.floor(F.pmod(of_day, F.lit(3600)) / 60), F.pmod(of_day, F.lit(60))]
    clock = F.concat_ws(":", *[F.lpad(part.cast("string"), 2, "0") for part in parts])
    return F.concat(date, F.lit("T"), clock, F.lit("Z"))


class _Schedule:
    """A key's changes of one attribute: every ``period`` days from day ``first`` (1..period).

    ``count(day)`` numbers the changes up to a day, so an attribute's value as of a day is a
    function of that version: no history is replayed.
    """

    def __init__(self, period: str, first: str):
        self.period, self.first = period, first

    @classmethod
    def drawn(cls, scale: DemoScale, name: str, key: str, shortest: int, longest: int) -> _Schedule:
        period = f"({shortest} + {_index(scale, f'{name}_period', longest - shortest + 1, key)})"
        return cls(period, f"(1 + {_index(scale, f'{name}_first', period, key)})")

    def count(self, day: str) -> str:
        """Changes on days ``1 .. day``."""
        since_first = f"floor(({day} - {self.first}) / {self.period}) + 1"
        return f"(CASE WHEN {day} >= {self.first} THEN {since_first} ELSE 0 END)"

    def changes_on(self, day: str) -> str:
        return f"({day} >= {self.first} AND pmod({day} - {self.first}, {self.period}) = 0)"

    def last_change(self, day: str) -> str:
        """The day of the latest change up to ``day``, or null."""
        latest = f"{self.first} + ({self.count(day)} - 1) * {self.period}"
        return f"(CASE WHEN {day} >= {self.first} THEN {latest} END)"


# --- customers --------------------------------------------------------------------------------


class _CustomerTraits:
    """What never changes about a customer, as SQL expressions of its id."""

    def __init__(self, scale: DemoScale, customer: str):
        self.scale, self.customer = scale, customer

    @cached_property
    def signup_day(self) -> str:
        """The day index of sign-up; negative for customers who signed up before day 0."""
        initial, customer = self.scale.initial_customers, self.customer
        new_day = f"floor(({customer} - {initial + 1}) / {self.scale.signups_per_day})"
        before = f"-1 - {_index(self.scale, 'signup_day', 730, customer)}"
        return f"(CASE WHEN {customer} > {initial} THEN {new_day} ELSE {before} END)"

    @cached_property
    def signup_segment(self) -> str:
        shares = [share for share, _, _ in SEGMENTS.values()]
        return _weighted_index(_unit(self.scale, "segment", self.customer), shares)

    @cached_property
    def unhappiness(self) -> str:
        return _unit(self.scale, "unhappiness", self.customer)

    @cached_property
    def churn_day(self) -> str:
        """The first day the customer no longer orders (before day 0 for a dormant customer)."""
        scale, customer, unhappy, signup = self.scale, self.customer, self.unhappiness, self.signup_day
        hazard = (
            f"{_pick([hazard for _, hazard, _ in SEGMENTS.values()], self.signup_segment)}"
            f" * (0.25D + 3.0D * {unhappy} * {unhappy})"
        )
        lifetime = f"floor(-log1p(-{_unit(scale, 'lifetime', customer)}) / ({hazard}))"
        dormant = f"{signup} < 0 AND {_unit(scale, 'dormant', customer)} < 0.1D + 0.25D * {unhappy}"
        return f"(CASE WHEN {dormant} THEN {signup} ELSE greatest({signup}, 0) + {lifetime} END)"

    @cached_property
    def order_weight(self) -> str:
        """How often the customer orders, relative to the most active (0..1)."""
        segment_weight = _pick([weight for _, _, weight in SEGMENTS.values()], self.signup_segment)
        return f"({segment_weight} * (0.25D + 0.75D * {_unit(self.scale, 'activity', self.customer)}))"

    @cached_property
    def fade_days(self) -> str:
        """Over how many days before churning the customer's orders thin out (:data:`FADE_DAYS`)."""
        shortest, longest = FADE_DAYS
        return f"({shortest} + {_index(self.scale, 'fade_days', longest - shortest + 1, self.customer)})"

    def order_weight_on(self, day: str) -> str:
        """``order_weight`` on ``day``: it falls linearly over the last ``fade_days`` before the
        churn day, to :data:`FADE_FLOOR` of itself, so frequency and recency drift before churn."""
        left = f"CAST({self.churn_day} - {day} AS DOUBLE) / {self.fade_days}"
        return f"({self.order_weight} * least(1.0D, greatest({FADE_FLOOR}D, {left})))"

    @cached_property
    def country_index(self) -> str:
        weights = [weight for weight, _, _, _ in COUNTRIES.values()]
        return _weighted_index(_unit(self.scale, "country", self.customer), weights)

    def is_active(self, day: str) -> str:
        return f"({self.signup_day} <= {day} AND {day} < {self.churn_day})"


def _customer_schedules(scale: DemoScale, customer: str) -> dict[str, _Schedule]:
    """The change schedule of each changing attribute: email, phone, city and segment."""
    return {
        attribute: _Schedule.drawn(scale, f"customer_{attribute}", customer, shortest, longest)
        for attribute, (shortest, longest) in _CUSTOMER_CHANGES.items()
    }


def _first_name(scale: DemoScale, customer: str) -> str:
    return _pick(FIRST_NAMES, _index(scale, "first_name", len(FIRST_NAMES), customer))


def _customer_phone(scale: DemoScale, customer: str, country_index: str, version: str) -> str:
    code = _pick([code for _, code, _, _ in COUNTRIES.values()], country_index)
    number = f"CAST(100000000 + {_index(scale, 'phone', 900_000_000, customer, version)} AS STRING)"
    style = _unit(scale, "phone_style", customer, version)
    return (
        f"CASE WHEN {style} < 0.05D THEN CAST(NULL AS STRING) "
        f"WHEN {style} < 0.65D "
        f"THEN concat('+', {code}, ' ', substring({number}, 1, 3), ' ', substring({number}, 4, 6)) "
        f"ELSE concat('+', {code}, {number}) END"
    )


def _customer_email(scale: DemoScale) -> str:
    """A customer's email address (of ``first_name``, ``last_name``, ``email_version``), or null.

    An address is built from the name, accents and other letters dropped; a few keep the capitals
    and accents the customer typed.
    """
    first, last = (
        f"regexp_replace(lower(translate({name}, 'áéèëíóöúüäøñç', 'aeeeioouuaonc')), '[^a-z]', '')"
        for name in ("first_name", "last_name")
    )
    number = f"CAST(10 + {_index(scale, 'email_digits', 90, 'customer_id', 'email_version')} AS STRING)"
    local = _element(
        f"array(concat({first}, '.', {last}), concat(substring({first}, 1, 1), {last}), "
        f"concat({first}, {last}, {number}), concat({last}, '.', {first}, {number}))",
        _index(scale, "email_style", 4, "customer_id", "email_version"),
    )
    domain = _pick(
        EMAIL_DOMAINS, _index(scale, "email_domain", len(EMAIL_DOMAINS), "customer_id", "email_version")
    )
    case = _unit(scale, "email_case", "customer_id", "email_version")
    return (
        f"CASE WHEN {case} < 0.02D THEN CAST(NULL AS STRING) "
        f"WHEN {case} < 0.05D THEN concat(first_name, '.', replace(last_name, ' ', ''), '@', {domain}) "
        f"ELSE concat({local}, '@', {domain}) END"
    )


def _customer_rows(ids: DataFrame, scale: DemoScale, day: int) -> DataFrame:
    """The customers of ``ids`` (a ``customer_id`` column) as of the end of ``day``."""
    traits = _CustomerTraits(scale, "customer_id")
    schedules = _customer_schedules(scale, "customer_id")
    frame = ids.selectExpr(
        "customer_id",
        f"{traits.signup_day} AS signup_day",
        f"{traits.signup_segment} AS signup_segment",
        f"{traits.country_index} AS country_index",
        *[f"{schedule.period} AS {name}_period" for name, schedule in schedules.items()],
        *[f"{schedule.first} AS {name}_first" for name, schedule in schedules.items()],
    )
    versions, changes = [], []
    for name in schedules:
        schedule = _Schedule(f"{name}_period", f"{name}_first")
        version = (
            f"({schedule.count(str(day))} - {schedule.count('greatest(signup_day, 0)')})"  # after sign-up
        )
        versions.append(f"{version} AS {name}_version")
        changes.append(f"CASE WHEN {version} > 0 THEN {schedule.last_change(str(day))} END")
    frame = frame.selectExpr(
        "customer_id",
        "signup_day",
        "signup_segment",
        "country_index",
        *versions,
        f"greatest({', '.join(changes)}) AS changed_day",
        f"{_first_name(scale, 'customer_id')} AS first_name",
        f"{_pick(LAST_NAMES, _index(scale, 'last_name', len(LAST_NAMES), 'customer_id'))} AS last_name",
    )
    email = _customer_email(scale)
    cities = [cities for _, _, _, cities in COUNTRIES.values()]
    city = _nested_pick(scale, cities, "country_index", "city", "customer_id", "city_version")
    shares = [share for share, _, _ in SEGMENTS.values()]
    changed_segment = _weighted_index(
        _unit(scale, "segment_change", "customer_id", "segment_version"), shares
    )
    segment = f"CASE WHEN segment_version = 0 THEN signup_segment ELSE {changed_segment} END"
    signed_up = _timestamp(scale, "signup_day", _index(scale, "signup_second", _SECONDS_A_DAY, "customer_id"))
    changed = _timestamp(
        scale, "changed_day", _index(scale, "change_second", _SECONDS_A_DAY, "customer_id", "changed_day")
    )
    return frame.selectExpr(
        "customer_id",
        "first_name",
        "last_name",
        f"{email} AS email",
        f"{_customer_phone(scale, 'customer_id', 'country_index', 'phone_version')} AS phone",
        f"{city} AS city",
        f"{_pick(list(COUNTRIES), 'country_index')} AS country",
        f"{_pick(list(SEGMENTS), segment)} AS segment",
        f"{_date(scale, 'signup_day')} AS signup_date",
        f"CASE WHEN changed_day IS NULL THEN {signed_up} ELSE {changed} END AS updated_at",
    )


# --- products ---------------------------------------------------------------------------------


class _ProductTraits:
    """A product's category, name and price, as SQL expressions of its id."""

    def __init__(self, scale: DemoScale, product: str, category: str | None = None):
        self.scale, self.product = scale, product
        if category is not None:
            self.category = category  # already a column: not hashed again

    @cached_property
    def category(self) -> str:
        return _index(self.scale, "category", len(CATEGORIES), self.product)

    def pick(self, field: str, salt: str) -> str:
        """A pseudo-random word of the category's list ``field`` (brands, nouns, ...)."""
        return _nested_pick(
            self.scale, [getattr(cat, field) for cat in CATEGORIES], self.category, salt, self.product
        )

    @cached_property
    def name(self) -> str:
        model = _pick(PRODUCT_MODELS, _index(self.scale, "model", len(PRODUCT_MODELS), self.product))
        return (
            f"concat_ws(' ', {self.pick('brands', 'brand')}, {model}, initcap({self.pick('nouns', 'noun')}))"
        )

    @cached_property
    def price_schedule(self) -> _Schedule:
        return _Schedule.drawn(self.scale, "product_price", self.product, *_PRICE_CHANGE_DAYS)

    def price_cents(self, day: str) -> str:
        """The price on ``day``, in cents, ending in .99."""
        low = _pick([cat.price_range[0] for cat in CATEGORIES], self.category)
        high = _pick([cat.price_range[1] for cat in CATEGORIES], self.category)
        share = _unit(self.scale, "price", self.product)
        base = f"({low} + ({high} - {low}) * {share} * {share})"  # most products are at the cheap end
        version = self.price_schedule.count(day)
        change = f"0.8D + 0.4D * {_unit(self.scale, 'price_change', self.product, version)}"
        factor = f"CASE WHEN {version} = 0 THEN 1.0D ELSE {change} END"
        return f"(CAST(greatest(round({base} * ({factor})), 1) AS BIGINT) * 100 - 1)"


def _product_rows(ids: DataFrame, scale: DemoScale, day: int) -> DataFrame:
    """The products of ``ids`` (a ``product_id`` column) as of the end of ``day``."""
    traits = _ProductTraits(scale, "product_id")
    frame = ids.selectExpr(
        "product_id",
        f"{traits.category} AS category_index",
        f"{traits.pick('brands', 'brand')} AS brand",
        f"{traits.pick('nouns', 'noun')} AS noun",
        f"{traits.name} AS name",
        f"{traits.price_cents(str(day))} AS price_cents",
        f"{traits.price_schedule.last_change(str(day))} AS changed_day",
    )
    staged = _ProductTraits(scale, "product_id", "category_index")
    specs = _element(_nested_array([cat.specs for cat in CATEGORIES]), "category_index")
    first_spec = _index(scale, "spec", f"size({specs})", "product_id")
    other_spec = _index(scale, "spec_two", f"size({specs}) - 1", "product_id")
    second_spec = f"pmod({first_spec} + 1 + {other_spec}, size({specs}))"
    warranty = f"CAST(1 + {_index(scale, 'warranty', 3, 'product_id')} AS STRING)"
    description = (
        f"concat({staged.pick('leads', 'lead')}, ' ', noun, ' with ', {_element(specs, first_spec)}, "
        f"' and ', {_element(specs, second_spec)}, '. ', {staged.pick('uses', 'use')}, ' ', "
        f"{staged.pick('extras', 'extra')}, ' Backed by a ', {warranty}, '-year warranty.')"
    )
    created = _timestamp(
        scale,
        f"-1 - {_index(scale, 'created_day', 365, 'product_id')}",
        _index(scale, "created_second", _SECONDS_A_DAY, "product_id"),
    )
    changed = _timestamp(
        scale, "changed_day", _index(scale, "price_second", _SECONDS_A_DAY, "product_id", "changed_day")
    )
    sku = (
        f"concat_ws('-', {_pick([cat.code for cat in CATEGORIES], 'category_index')}, "
        "upper(substring(brand, 1, 3)), lpad(CAST(product_id AS STRING), 6, '0'))"
    )
    return frame.selectExpr(
        "product_id",
        f"{sku} AS sku",
        "name",
        f"{_pick([cat.name for cat in CATEGORIES], 'category_index')} AS category",
        "brand",
        f"{description} AS description",
        f"{_cents_to_price('price_cents', 10)} AS price",
        f"CASE WHEN changed_day IS NULL THEN {created} ELSE {changed} END AS updated_at",
    )


# --- orders -----------------------------------------------------------------------------------


def _mess_bands(orders: int) -> tuple[int, int, int, int]:
    """Malformed, null-customer, duplicate and orphan orders of a day: disjoint, exact counts."""
    remaining, bands = orders, []
    for rate in (MALFORMED_ORDER_RATE, NULL_CUSTOMER_RATE, DUPLICATE_RATE, ORPHAN_RATE):
        count = min(remaining, math.ceil(rate * orders))
        bands.append(count)
        remaining -= count
    return bands[0], bands[1], bands[2], bands[3]


_BANDS = ("malformed", "null_customer", "duplicate", "orphan")


@lru_cache(maxsize=64)
def _order_day_table(scale: DemoScale, last_day: int) -> tuple[tuple[int, ...], ...]:
    """Per day ``0 .. last_day``: first order id, stride, offset, orders, then each band's upper limit."""
    firsts, strides, offsets, sizes = [], [], [], []
    limits: list[list[int]] = [[] for _ in _BANDS]
    first = 1
    for day in range(last_day + 1):
        orders = scale.orders_on(day)
        firsts.append(first)
        first += orders
        strides.append(_stride(orders))
        offsets.append(int(_driver_unit(scale.seed, "order_band_offset", day) * orders))
        sizes.append(orders)
        bound = 0
        for band, count in enumerate(_mess_bands(orders)):
            bound += count
            limits[band].append(bound)
    firsts.append(first)
    return tuple(firsts), tuple(strides), tuple(offsets), tuple(sizes), *map(tuple, limits)


class _OrderDays:
    """Facts of the order days ``0 .. last_day`` (first ids, mess bands), as SQL expressions."""

    def __init__(self, scale: DemoScale, last_day: int):
        table = _order_day_table(scale, last_day)
        self.firsts, self.strides, self.offsets, self.sizes = table[:4]
        self.limits = table[4:]

    def day_of(self, order: str, first_day: int) -> str:
        """The day an order of days ``first_day .. last_day`` was placed."""
        return _day_of(order, self.firsts, first_day)

    def band(self, order: str, day: str) -> str:
        """The mess an order was picked for on its day (one of ``_BANDS``), or null.

        The day's orders are permuted (``index * stride + offset mod orders``) and the first
        positions form the bands, so each band has its exact count, spread over the day.
        """
        index = f"({order} - {_pick(self.firsts[:-1], day)})"
        stride, offset, size = (_pick(values, day) for values in (self.strides, self.offsets, self.sizes))
        position = f"pmod({index} * {stride} + {offset}, {size})"
        branches = [
            f"WHEN {position} < {_pick(limits, day)} THEN '{name}'"
            for name, limits in zip(_BANDS, self.limits, strict=True)
        ]
        return f"CASE {' '.join(branches)} END"


def _with_true_customer(frame: DataFrame, scale: DemoScale) -> DataFrame:
    """Add ``true_customer`` to a frame of orders (``order_id``, ``order_day``, ``band``): who placed each.

    A few customers are drawn per order (a row each); the first one active on the day (signed
    up, not yet churned) and keen (a chance set by segment and activity) is taken, failing that
    the first active one, failing that the first drawn. An orphan's customer signs up only the
    next day. Rows and an aggregation rather than arrays: Spark compiles row expressions, while
    it interprets the lambdas of higher-order functions, three times slower here.
    """
    draws = _ORDER_CUSTOMER_CANDIDATES
    existing = f"({scale.initial_customers} + {scale.signups_per_day} * (CAST(order_day AS BIGINT) + 1))"
    drawn = frame.selectExpr("order_id", "order_day", f"explode(sequence(0, {draws - 1})) AS customer_draw")
    drawn = drawn.selectExpr(
        "order_id",
        "order_day",
        "customer_draw",
        f"1 + {_index(scale, 'order_customer', existing, 'order_id', 'customer_draw')} AS drawn_customer",
    )
    traits = _CustomerTraits(scale, "drawn_customer")
    drawn = drawn.selectExpr(
        "order_id",
        "customer_draw",
        "drawn_customer",
        f"{traits.is_active('order_day')} AS active",
        f"{_unit(scale, 'order_accept', 'order_id', 'customer_draw')} < {traits.order_weight_on('order_day')}"
        " AS keen",
    )
    rank = (
        f"CASE WHEN active AND keen THEN customer_draw WHEN active THEN customer_draw + {draws} "
        f"ELSE customer_draw + {2 * draws} END"
    )
    chosen = drawn.groupBy("order_id").agg(
        F.min(F.struct(F.expr(rank).alias("rank"), F.col("drawn_customer"))).alias("chosen")
    )
    next_signup = (
        f"{scale.initial_customers + 1} + {scale.signups_per_day} * (CAST(order_day AS BIGINT) + 1) "
        f"+ {_index(scale, 'orphan_customer', scale.signups_per_day, 'order_id')}"
    )
    customer = f"CASE WHEN band = 'orphan' THEN {next_signup} ELSE chosen.drawn_customer END"
    return frame.join(chosen, "order_id").selectExpr(*frame.columns, f"{customer} AS true_customer")


def _order_second(scale: DemoScale, order: str) -> str:
    hour = _weighted_index(_unit(scale, "order_hour", order), ORDER_HOURS)
    return f"({hour} * 3600 + {_index(scale, 'order_second', 3600, order)})"


def _coupon(scale: DemoScale, order: str, day: str) -> str:
    """The coupon code of an order, or null (coupons exist from ``scale.coupon_day``)."""
    code = _pick(list(COUPONS), _index(scale, "coupon_code", len(COUPONS), order))
    drawn = f"{_unit(scale, 'coupon', order)} < {COUPON_RATE}D"
    return f"CASE WHEN {day} >= {scale.coupon_day} AND {drawn} THEN {code} END"


def _line_count(scale: DemoScale, order: str) -> str:
    shares = list(_LINES_PER_ORDER.values())
    return f"CAST({_weighted_index(_unit(scale, 'line_count', order), shares)} + 1 AS INT)"


class _LineFacts:
    """The product, quantity, price and discount of line ``line`` of an order."""

    def __init__(
        self, scale: DemoScale, order: str, line: str, day: str, coupon: str, product: str | None = None
    ):
        products = scale.products
        # popular products first; the lines of an order step through the catalogue, so they differ
        popular = f"CAST(floor(pow({_unit(scale, 'line_product', order)}, 1.8D) * {products}) AS BIGINT)"
        step = f"(CAST({line} AS BIGINT) - 1) * {_stride(products)}"
        self.product = product or f"(1 + pmod({popular} + {step}, {products}))"
        quantity = _weighted_index(_unit(scale, "quantity", order, line), [70, 18, 7, 3, 2])
        self.quantity = f"CAST({quantity} + 1 AS INT)"
        self.unit_cents = _ProductTraits(scale, self.product).price_cents(day)
        by_coupon = " ".join(f"WHEN '{code}' THEN {percent}" for code, percent in COUPONS.items())
        promo = _pick(PROMO_DISCOUNTS, _index(scale, "promo_pct", len(PROMO_DISCOUNTS), order, line))
        self.discount = (
            f"(CASE WHEN ({coupon}) IS NOT NULL THEN CASE {coupon} {by_coupon} ELSE 0 END "
            f"WHEN {_unit(scale, 'promo', order, line)} < 0.12D THEN {promo} ELSE 0 END)"
        )
        # whole cents, rounded half up
        gross = f"{self.quantity} * {self.unit_cents} * (100 - {self.discount})"
        self.amount_cents = f"CAST(floor(({gross} + 50) / 100) AS BIGINT)"


def _order_total_cents(scale: DemoScale, order: str, day: str, coupon: str, lines: str) -> str:
    """The sum of an order's line amounts, in cents."""
    product = _LineFacts(scale, order, "order_line", day, coupon).product
    # the products first, so that each line's price expression names its product once
    item = f"named_struct('line', order_line, 'product', {product})"
    items = f"transform(sequence(1, {lines}), order_line -> {item})"
    amount = _LineFacts(scale, order, "line_item.line", day, coupon, product="line_item.product").amount_cents
    return f"aggregate({items}, CAST(0 AS BIGINT), (order_total, line_item) -> order_total + {amount})"


def _with_order_facts(orders: DataFrame, scale: DemoScale, days: _OrderDays) -> DataFrame:
    """Add every column of an order as first placed to a frame of ``order_id``, ``order_day``."""
    frame = orders.selectExpr(
        "*",
        f"{days.band('order_id', 'order_day')} AS band",
        f"{_coupon(scale, 'order_id', 'order_day')} AS coupon_code",
        f"{_line_count(scale, 'order_id')} AS line_count",
    )
    frame = _with_true_customer(frame, scale).selectExpr(
        "*",
        f"{_order_total_cents(scale, 'order_id', 'order_day', 'coupon_code', 'line_count')} AS total_cents",
    )
    status = _weighted_pick(scale, "status", {"placed": 0.80, "paid": 0.18, "cancelled": 0.02}, "order_id")
    order_ts = _timestamp(scale, "order_day", _order_second(scale, "order_id"))
    currency = _pick(
        [currency for _, _, currency, _ in COUNTRIES.values()],
        _CustomerTraits(scale, "true_customer").country_index,
    )
    return frame.selectExpr(
        "*",
        "CASE WHEN band = 'null_customer' THEN CAST(NULL AS BIGINT) ELSE true_customer END AS customer_id",
        f"{order_ts} AS order_ts",
        f"{status} AS status",
        f"{currency} AS currency",
        f"{_cents_to_price('total_cents', 12)} AS total_amount",
        f"{order_ts} AS updated_at",
    )


def _late_updates(spark: SparkSession, scale: DemoScale, days: _OrderDays, count: int) -> DataFrame:
    """``count`` distinct orders of the previous days again, with a later status and ``updated_at``."""
    day = len(days.firsts) - 2
    first_day = day - min(day, LATE_UPDATE_WINDOW_DAYS)
    first, size = days.firsts[first_day], days.firsts[day] - days.firsts[first_day]
    stride, offset = _stride(size), int(_driver_unit(scale.seed, "late_update_offset", day) * size)
    orders = spark.range(count).selectExpr(f"{first} + pmod(id * {stride} + {offset}, {size}) AS order_id")
    orders = orders.selectExpr("order_id", f"{days.day_of('order_id', first_day)} AS order_day")
    orders = _with_order_facts(orders, scale, days)
    status, _ = _order_fate(scale, f"({day} - order_day)")
    second = _index(scale, "late_update_second", _SECONDS_A_DAY, "order_id", str(day))
    return orders.selectExpr(
        *[name for name in orders.columns if name not in ("status", "updated_at")],
        f"{status} AS status",
        f"{_timestamp(scale, str(day), second)} AS updated_at",
        f"'late_update' AS {RECORD_KIND}",
        f"CAST(NULL AS STRING) AS {DEFECT}",
    )


def _order_fate(scale: DemoScale, age: str) -> tuple[str, str]:
    """An order's status ``age`` days after it was placed (from 1), and the days from its
    placing to that status, of a frame with ``order_id``, ``status`` and ``true_customer``.

    Each order has one fate, so successive updates of an order never go backwards.
    """
    unhappiness = _CustomerTraits(scale, "true_customer").unhappiness
    cancelled = f"status = 'cancelled' OR {_unit(scale, 'fate_cancelled', 'order_id')} < 0.04D"
    returned = f"{_unit(scale, 'fate_returned', 'order_id')} < 0.05D + 0.25D * {unhappiness}"
    delivered_after = f"2 + {_index(scale, 'delivery_days', 2, 'order_id')}"
    returned_after = f"5 + {_index(scale, 'return_days', 10, 'order_id')}"
    status = (
        f"CASE WHEN {cancelled} THEN 'cancelled' WHEN {returned} AND {age} >= 5 THEN 'returned' "
        f"WHEN {age} >= {delivered_after} THEN 'delivered' ELSE 'shipped' END"
    )
    after = (
        f"CASE WHEN {cancelled} THEN 0 WHEN {returned} AND {age} >= 5 THEN least({age}, {returned_after}) "
        f"WHEN {age} >= {delivered_after} THEN {delivered_after} ELSE 1 END"
    )
    return status, after


def _last_history_day(scale: DemoScale) -> int:
    if scale.history_days < 1:
        raise ValueError("the DemoScale has no history (history_days is 0)")
    return scale.history_days - 1


# --- tickets ----------------------------------------------------------------------------------


def _ticket_text(scale: DemoScale) -> tuple[str, str, str]:
    """Subject and body of a ticket, from its topic's phrasings with the slots filled in.

    Returns:
        The subject, the body, and the condition under which the customer wrote the body in
        lower case.
    """
    topics = list(TICKET_TOPICS.values())

    def phrase(field: str, salt: str) -> str:
        return _nested_pick(
            scale, [getattr(entry, field) for entry in topics], "topic_index", salt, "ticket_id"
        )

    def chance(salt: str, share: float) -> str:
        return f"{_unit(scale, salt, 'ticket_id')} < {share}D"

    greeting = _pick(GREETINGS, _index(scale, "ticket_greeting", len(GREETINGS), "ticket_id"))
    sign_off = _pick(SIGN_OFFS, _index(scale, "ticket_sign_off", len(SIGN_OFFS), "ticket_id"))
    parts = [
        f"CASE WHEN {chance('ticket_has_greeting', 0.85)} THEN {greeting} END",
        phrase("problems", "ticket_problem"),
        f"CASE WHEN {chance('ticket_has_detail', 0.8)} THEN {phrase('details', 'ticket_detail')} END",
        phrase("asks", "ticket_ask"),
        f"CASE WHEN {chance('ticket_call_me', 0.1)} THEN concat('You can call me at ', phone, '.') END",
        sign_off,
    ]
    shoes = next(index for index, cat in enumerate(CATEGORIES) if cat.name == "Shoes")
    size = (
        f"CASE WHEN category_index = {shoes} "
        f"THEN {_pick(SHOE_SIZES, _index(scale, 'ticket_size', len(SHOE_SIZES), 'ticket_id'))} "
        f"ELSE {_pick(CLOTHING_SIZES, _index(scale, 'ticket_size', len(CLOTHING_SIZES), 'ticket_id'))} END"
    )
    slots = {
        "{product}": "coalesce(product_name, 'item')",
        "{order}": "CAST(order_id AS STRING)",
        "{amount}": f"concat(CAST({_cents_to_price('total_cents', 12)} AS STRING), ' ', currency)",
        "{days}": f"CAST(2 + {_index(scale, 'ticket_days', 12, 'ticket_id')} AS STRING)",
        "{hours}": f"CAST(2 + {_index(scale, 'ticket_hours', 5, 'ticket_id')} AS STRING)",
        "{size}": size,
        "{name}": _first_name(scale, "customer_id"),
    }
    subject, body = phrase("subjects", "ticket_subject"), f"concat_ws(' ', {', '.join(parts)})"
    for slot, value in slots.items():
        subject, body = f"replace({subject}, '{slot}', {value})", f"replace({body}, '{slot}', {value})"
    return subject, body, chance("ticket_lower", 0.08)
