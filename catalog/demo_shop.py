"""The demo source: a SQLite shop database of related tables with planted quality problems.

Missing values, negative amounts, future dates, duplicated keys, orphaned references and values
outside their set are planted at fixed strides, so the same scale always yields the same data.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL, parent_id INTEGER);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY, email TEXT, name TEXT, country TEXT, signup_date DATE, status TEXT
);
CREATE TABLE addresses (
    id INTEGER PRIMARY KEY, customer_id INTEGER, city TEXT, postcode TEXT, country TEXT
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY, sku TEXT, name TEXT, category_id INTEGER, price NUMERIC, stock INTEGER
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer_id INTEGER, order_date DATE, status TEXT,
    total_amount NUMERIC, currency TEXT
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY, order_id INTEGER, product_id INTEGER, quantity INTEGER,
    unit_price NUMERIC, discount REAL
);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY, order_id INTEGER, amount NUMERIC, method TEXT, paid_at DATETIME
);
CREATE TABLE shipments (
    id INTEGER PRIMARY KEY, order_id INTEGER, carrier TEXT, shipped_at DATETIME,
    delivered_at DATETIME
);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY, product_id INTEGER, customer_id INTEGER, rating INTEGER, body TEXT,
    created_at DATETIME
);
CREATE VIEW order_totals AS
    SELECT o.id AS order_id, o.customer_id, SUM(i.quantity * i.unit_price) AS items_total
    FROM orders o JOIN order_items i ON i.order_id = o.id GROUP BY o.id, o.customer_id;
"""

COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL", "SE", "US", "GB", "PT"]
CITIES = ["Berlin", "Paris", "Amsterdam", "Madrid", "Rome", "Warsaw", "Stockholm", "Lisbon"]
ORDER_STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled"]
METHODS = ["card", "paypal", "transfer"]
CARRIERS = ["DHL", "UPS", "PostNL", "GLS"]
START = date(2024, 1, 1)


def build_shop(path: Path, *, scale: float = 1.0, seed: int = 7, variant: str = "prod") -> None:
    """Write a fresh shop database at `path`. scale=1 makes ~300,000 order items.

    variant="staging" makes the smaller copy used to promote checks to: a few columns renamed
    or missing, so a Promote meets real differences.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    tmp.unlink(missing_ok=True)
    rng = random.Random(seed)
    n = {
        "categories": 40,
        "customers": max(50, int(20_000 * scale)),
        "products": max(30, int(2_000 * scale)),
        "orders": max(100, int(100_000 * scale)),
    }
    db = sqlite3.connect(tmp)
    schema = SCHEMA
    if variant == "staging":
        schema = schema.replace("status TEXT\n);", "state TEXT\n);", 1)  # customers.status renamed
        schema = schema.replace(", discount REAL", "")  # order_items without discount
    db.executescript(schema)

    db.executemany(
        "INSERT INTO categories VALUES (?, ?, ?)",
        [(i, f"Category {i}", None if i <= 8 else rng.randint(1, 8)) for i in range(1, 41)],
    )

    customers = []
    for i in range(1, n["customers"] + 1):
        email = f"customer{i}@example.com"
        if i % 211 == 0:
            email = None  # missing values
        elif i % 307 == 0:
            email = f"customer{i - 1}@example.com"  # duplicated key
        signup = START + timedelta(days=rng.randint(0, 650))
        status = rng.choice(["active", "active", "active", "dormant"])
        customers.append(
            (i, email, f"Customer {i}", rng.choice(COUNTRIES), signup.isoformat(), status)
        )
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", customers)

    addresses = []
    for i in range(1, int(n["customers"] * 1.2) + 1):
        postcode = None if i % 97 == 0 else f"{rng.randint(10000, 99999)}"
        addresses.append(
            (i, rng.randint(1, n["customers"]), rng.choice(CITIES), postcode, rng.choice(COUNTRIES))
        )
    db.executemany("INSERT INTO addresses VALUES (?, ?, ?, ?, ?)", addresses)

    products = []
    for i in range(1, n["products"] + 1):
        sku = f"SKU-{i:06d}" if i % 401 else f"SKU-{i - 1:06d}"  # duplicated SKUs
        price = round(rng.uniform(2, 400), 2)
        products.append((i, sku, f"Product {i}", rng.randint(1, 40), price, rng.randint(0, 500)))
    db.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)", products)
    prices = {p[0]: p[4] for p in products}

    orders, items, payments, shipments = [], [], [], []
    item_id = 0
    today = datetime.now().date()
    for i in range(1, n["orders"] + 1):
        customer = rng.randint(1, n["customers"])
        if i % 1009 == 0:
            customer = n["customers"] + rng.randint(1, 500)  # orphaned reference
        ordered = START + timedelta(days=rng.randint(0, (today - START).days - 1))
        if i % 1501 == 0:
            ordered = today + timedelta(days=rng.randint(30, 900))  # future date
        status = rng.choice(ORDER_STATUSES)
        if i % 733 == 0:
            status = rng.choice(["SHIPPED ", "unknown", "refunded?"])  # outside the set
        total = 0.0
        for _ in range(rng.choice([1, 2, 3, 3, 4, 5])):
            item_id += 1
            product = rng.randint(1, n["products"])
            if item_id % 2003 == 0:
                product = n["products"] + rng.randint(1, 300)  # orphaned reference
            quantity = rng.randint(1, 5)
            unit_price = prices.get(product, 9.99)
            if item_id % 1777 == 0:
                unit_price = -unit_price  # negative amount
            total += quantity * unit_price
            row = [item_id, i, product, quantity, unit_price]
            if variant != "staging":
                row.append(rng.choice([0, 0, 0, 0.05, 0.1]))
            items.append(tuple(row))
        orders.append((i, customer, ordered.isoformat(), status, round(total, 2), "EUR"))
        if status != "pending":
            amount = round(total, 2) if i % 613 else -round(total, 2)  # negative amount
            method = rng.choice(METHODS) if i % 877 else "bitcoin"  # outside the set
            paid = datetime.combine(ordered, datetime.min.time()) + timedelta(
                hours=rng.randint(1, 48)
            )
            payments.append((len(payments) + 1, i, amount, method, paid.isoformat(sep=" ")))
        if status in ("shipped", "delivered"):
            shipped = datetime.combine(ordered, datetime.min.time()) + timedelta(
                days=rng.randint(1, 4)
            )
            delivered = (
                shipped + timedelta(days=rng.randint(1, 6)) if status == "delivered" else None
            )
            shipments.append(
                (
                    len(shipments) + 1,
                    i,
                    rng.choice(CARRIERS),
                    shipped.isoformat(sep=" "),
                    delivered.isoformat(sep=" ") if delivered else None,
                )
            )
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", orders)
    placeholders = ", ".join("?" * len(items[0]))
    db.executemany(f"INSERT INTO order_items VALUES ({placeholders})", items)
    db.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?)", payments)
    db.executemany("INSERT INTO shipments VALUES (?, ?, ?, ?, ?)", shipments)

    reviews = []
    for i in range(1, int(n["orders"] * 0.3) + 1):
        rating = rng.randint(1, 5) if i % 919 else rng.choice([0, 6, 10])  # outside the set
        created = START + timedelta(days=rng.randint(0, 600))
        reviews.append(
            (
                i,
                rng.randint(1, n["products"]),
                rng.randint(1, n["customers"]),
                rating,
                "Fine." if i % 3 else "Great product, would buy again.",
                created.isoformat(),
            )
        )
    db.executemany("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?)", reviews)
    db.commit()
    db.close()
    tmp.replace(path)
