//! The `samples.tpch` tables, generated deterministically with tpchgen at start-up.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RecordBatchIterator, RegionArrow,
    SupplierArrow,
};

/// The catalog and schema the tables live in.
pub const CATALOG: &str = "samples";
pub const SCHEMA: &str = "tpch";

/// The eight TPC-H table names, as Databricks' `samples.tpch` has them.
pub const TABLES: [&str; 8] = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"];

fn collect(iter: impl RecordBatchIterator) -> (SchemaRef, Vec<RecordBatch>) {
    let schema = iter.schema().clone();
    (schema, iter.collect())
}

/// Generate one table at `scale`.
fn generate(table: &str, scale: f64) -> (SchemaRef, Vec<RecordBatch>) {
    match table {
        "customer" => collect(CustomerArrow::new(CustomerGenerator::new(scale, 1, 1))),
        "lineitem" => collect(LineItemArrow::new(LineItemGenerator::new(scale, 1, 1))),
        "nation" => collect(NationArrow::new(NationGenerator::new(scale, 1, 1))),
        "orders" => collect(OrderArrow::new(OrderGenerator::new(scale, 1, 1))),
        "part" => collect(PartArrow::new(PartGenerator::new(scale, 1, 1))),
        "partsupp" => collect(PartSuppArrow::new(PartSuppGenerator::new(scale, 1, 1))),
        "region" => collect(RegionArrow::new(RegionGenerator::new(scale, 1, 1))),
        _ => collect(SupplierArrow::new(SupplierGenerator::new(scale, 1, 1))),
    }
}

/// Build the `samples` catalog with its `tpch` schema. CPU-bound: call it off the
/// request runtime.
pub fn build(scale: f64) -> anyhow::Result<Arc<MemoryCatalogProvider>> {
    let scale = if scale.is_finite() && scale > 0.0 { scale } else { 0.01 };
    let schema = Arc::new(MemorySchemaProvider::new());
    for table in TABLES {
        let (arrow_schema, batches) = generate(table, scale);
        let provider = MemTable::try_new(arrow_schema, vec![batches])
            .map_err(|e| anyhow::anyhow!("cannot build samples.tpch.{table}: {e}"))?;
        schema
            .register_table(table.to_string(), Arc::new(provider))
            .map_err(|e| anyhow::anyhow!("cannot register samples.tpch.{table}: {e}"))?;
    }
    let catalog = Arc::new(MemoryCatalogProvider::new());
    datafusion::catalog::CatalogProvider::register_schema(catalog.as_ref(), SCHEMA, schema)
        .map_err(|e| anyhow::anyhow!("cannot register samples.tpch: {e}"))?;
    Ok(catalog)
}
