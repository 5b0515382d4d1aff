//! DataFusion errors as Databricks error classes and SQLSTATEs.

use datafusion::error::DataFusionError;

use super::SqlError;

// ---------------------------------------------------------------------------------
// Errors.

pub fn no_such_catalog(name: &str) -> SqlError {
    SqlError::new(
        "NO_SUCH_CATALOG_EXCEPTION",
        &format!(
            "Catalog '{name}' was not found. Please verify the catalog name and then retry the query or command again."
        ),
        "42704",
    )
}

pub fn schema_not_found(catalog: &str, schema: &str) -> SqlError {
    SqlError::new(
        "SCHEMA_NOT_FOUND",
        &format!(
            "The schema `{catalog}`.`{schema}` cannot be found. Verify the spelling and correctness of the schema and catalog."
        ),
        "42704",
    )
}

pub fn table_not_found(name: &str) -> SqlError {
    SqlError::new(
        "TABLE_OR_VIEW_NOT_FOUND",
        &format!(
            "The table or view {name} cannot be found. Verify the spelling and correctness of the schema and catalog. If you did not qualify the name with a schema, verify the current_schema() output, or qualify the name with the correct schema and catalog."
        ),
        "42P01",
    )
}

fn backticked(name: &str) -> String {
    name.split('.').map(|p| format!("`{p}`")).collect::<Vec<_>>().join(".")
}

/// Translate a DataFusion error into a Databricks error class and SQLSTATE.
pub fn sql_error(e: DataFusionError) -> SqlError {
    let root = e.find_root();
    let text = root.message().trim().to_string();
    let lower = text.to_ascii_lowercase();
    if let DataFusionError::SQL(..) = root {
        return SqlError::new("PARSE_SYNTAX_ERROR", &format!("Syntax error: {text}."), "42601");
    }
    if let Some(name) = between(&text, "table '", "' not found") {
        return table_not_found(&backticked(name));
    }
    if lower.contains("no field named") || lower.contains("field not found") {
        let name = between(&text, "No field named ", ".").unwrap_or(&text);
        return SqlError::new(
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
            &format!("A column, variable, or function parameter with name {name} cannot be resolved. ({text})"),
            "42703",
        );
    }
    if lower.contains("invalid function") || lower.contains("unknown function") {
        return SqlError::new("UNRESOLVED_ROUTINE", &format!("Cannot resolve routine: {text}"), "42883");
    }
    if lower.contains("already exists") {
        let name = between(&text, "'", "'").map(backticked).unwrap_or_default();
        return if lower.contains("schema") || lower.contains("database") || lower.contains("catalog") {
            SqlError::new(
                "SCHEMA_ALREADY_EXISTS",
                &format!(
                    "Cannot create schema {name} because it already exists. Choose a different name, drop the existing schema, or add the IF NOT EXISTS clause to tolerate a pre-existing schema."
                ),
                "42P06",
            )
        } else {
            SqlError::new(
                "TABLE_OR_VIEW_ALREADY_EXISTS",
                &format!(
                    "Cannot create table or view {name} because it already exists. Choose a different name, drop the existing object, add the IF NOT EXISTS clause to tolerate pre-existing objects, or add the OR REPLACE clause to replace it."
                ),
                "42P07",
            )
        };
    }
    if lower.contains("schema") && (lower.contains("doesn't exist") || lower.contains("does not exist")) {
        return SqlError::new("SCHEMA_NOT_FOUND", &text, "42704");
    }
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return SqlError::new(
            "DIVIDE_BY_ZERO",
            "Division by zero. Use NULLIF(divisor, 0) to get NULL instead of an error.",
            "22012",
        );
    }
    if lower.contains("cannot cast") || lower.contains("cast error") || lower.contains("could not cast") {
        return SqlError::new("CAST_INVALID_INPUT", &text, "22018");
    }
    match root {
        DataFusionError::NotImplemented(_) => SqlError::new("UNSUPPORTED_FEATURE", &text, "0A000"),
        DataFusionError::ResourcesExhausted(_) => SqlError::new("RESOURCE_EXHAUSTED", &text, "53000"),
        DataFusionError::Internal(_) => SqlError::new("INTERNAL_ERROR", &text, "XX000"),
        DataFusionError::Execution(m) if m == "canceled" => {
            SqlError::new("OPERATION_CANCELED", "The statement was canceled.", "HY008")
        }
        _ => SqlError::new("SQL_ERROR", &text, "42000"),
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}
