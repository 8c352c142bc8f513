//! Benchmarks of the foundation's hot paths.
//!
//! - `quantity/parse`: the collector parses every container's requests and
//!   limits on each pod event and two usage quantities per container on every
//!   metrics sample (150,000 pods × ~2 containers per minute at the top of our
//!   range), so parse cost bounds sampling cost. Inputs are the shapes real
//!   objects carry: `250m`, `1Gi`, metrics-server's `123456789n` and `30794804Ki`.
//! - `quantity/parse_slow`: inputs that need big-number arithmetic; rare.
//! - `quantity/format`: canonical strings, which the simulated API server
//!   writes for every container of every metrics response.
//! - `pricing/price_node`: one catalog lookup; done once per node and hour.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kubetally::model::{CapacityType, Provider, Quantity};
use kubetally::pricing::{NodeClass, PriceBook, PricingOptions};

const TYPICAL: [&str; 10] = [
    "250m",
    "1Gi",
    "128Mi",
    "2",
    "500m",
    "123456789n",
    "30794804Ki",
    "1.5Gi",
    "100M",
    "1.3E+6",
];

fn quantity(c: &mut Criterion) {
    let mut group = c.benchmark_group("quantity");
    group.throughput(Throughput::Elements(TYPICAL.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for text in TYPICAL {
                let _ = black_box(Quantity::parse(black_box(text)));
            }
        })
    });
    let slow = [
        "0.0000000000000000000000000001Ki",
        "12345678901234567890123456789012345678901234",
    ];
    group.throughput(Throughput::Elements(slow.len() as u64));
    group.bench_function("parse_slow", |b| {
        b.iter(|| {
            for text in slow {
                let _ = black_box(Quantity::parse(black_box(text)));
            }
        })
    });
    let parsed: Vec<Quantity> = TYPICAL
        .iter()
        .filter_map(|text| Quantity::parse(text).ok())
        .collect();
    group.throughput(Throughput::Elements(parsed.len() as u64));
    group.bench_function("format", |b| {
        b.iter(|| {
            for quantity in &parsed {
                black_box(quantity.to_string());
            }
        })
    });
    group.finish();
}

fn pricing(c: &mut Criterion) {
    let Ok(book) = PriceBook::new(Vec::new(), PricingOptions::default()) else {
        panic!("embedded catalog must load");
    };
    let node = NodeClass {
        provider: Provider::Gcp,
        region: "us-central1".into(),
        zone: "us-central1-a".into(),
        machine_type: "n2-standard-8".into(),
        machine_family: "n2".into(),
        capacity_type: CapacityType::Spot,
        gpu_type: String::new(),
        vcpus: 8.0,
        memory_gib: 32.0,
        gpus: 0,
    };
    let mut group = c.benchmark_group("pricing");
    group.throughput(Throughput::Elements(1));
    group.bench_function("price_node", |b| {
        b.iter(|| black_box(book.price(black_box(&node))))
    });
    group.finish();
}

criterion_group!(benches, quantity, pricing);
criterion_main!(benches);
