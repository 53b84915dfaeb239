//! Table columns of custom resources (`additionalPrinterColumns`).
//!
//! As apiextensions' table convertor: `Name` first, then each printer
//! column, whose cell is the *first* value its JSONPath selects, coerced to
//! the column type (a value of another type shows as empty); `date`
//! columns show an age. A version without printer columns shows `Age`.

use std::borrow::Cow;

use serde_json::Value;
use trellis_apis::jsonpath::JsonPath;

use super::api::PrinterColumn;
use crate::table::{self, Column};

/// The printer columns of one version, compiled.
pub struct Columns {
    columns: Vec<(Column, Option<JsonPath>)>,
}

impl Columns {
    pub fn new(printer: &[PrinterColumn]) -> Columns {
        let printer: Cow<[PrinterColumn]> = if printer.is_empty() {
            Cow::Owned(vec![PrinterColumn {
                name: "Age".into(),
                kind: "date".into(),
                format: String::new(),
                description: table::AGE.description.to_string(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
            }])
        } else {
            Cow::Borrowed(printer)
        };
        let columns = printer
            .iter()
            .map(|c| {
                (
                    Column {
                        name: Cow::Owned(c.name.clone()),
                        kind: Cow::Owned(c.kind.clone()),
                        format: Cow::Owned(c.format.clone()),
                        description: Cow::Owned(c.description.clone()),
                        priority: c.priority,
                    },
                    // Validation of the definition rejects bad paths; one
                    // that still fails to parse yields empty cells.
                    JsonPath::parse(&c.json_path).ok(),
                )
            })
            .collect();
        Columns { columns }
    }

    pub fn definitions(&self) -> Vec<Column> {
        let mut out = vec![table::NAME];
        out.extend(self.columns.iter().map(|(c, _)| c.clone()));
        out
    }

    pub fn cells(&self, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let mut out = vec![table::name_cell(obj)];
        for (col, path) in &self.columns {
            let value = path.as_ref().and_then(|p| p.first(obj));
            out.push(cell(&col.kind, value, now));
        }
        out
    }
}

/// `cellForJSONValue`, plus the string rendering jsonpath printing gives.
fn cell(kind: &str, value: Option<&Value>, now: jiff::Timestamp) -> Value {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match kind {
        "string" => Value::String(match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        "integer" => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Value::from)
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "number" => match value {
            Value::Number(n) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "boolean" => match value {
            Value::Bool(b) => Value::Bool(*b),
            _ => Value::Null,
        },
        "date" => match value {
            Value::String(s) => match s.parse::<jiff::Timestamp>() {
                Ok(t) => Value::String(table::human_duration(now.as_second() - t.as_second())),
                Err(_) => Value::String("<invalid>".into()),
            },
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(name: &str, kind: &str, path: &str) -> PrinterColumn {
        PrinterColumn {
            name: name.into(),
            kind: kind.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: path.into(),
        }
    }

    #[test]
    fn cells_follow_column_types() {
        let cols = Columns::new(&[
            col("Replicas", "integer", ".spec.replicas"),
            col(
                "Ready",
                "string",
                r#".status.conditions[?(@.type=="Ready")].status"#,
            ),
            col("Size", "number", ".spec.size"),
            col("On", "boolean", ".spec.on"),
            col("Started", "date", ".status.started"),
            col("Wrong", "integer", ".spec.name"),
            col("Missing", "string", ".spec.nope"),
            col("Obj", "string", ".spec.sel"),
        ]);
        let now: jiff::Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        let obj = json!({
            "metadata": {"name": "w"},
            "spec": {"replicas": 3, "size": 2, "on": true, "name": "x", "sel": {"a": "b"}},
            "status": {"started": "2026-01-01T00:00:00Z", "conditions": [{"type": "Ready", "status": "True"}]}
        });
        assert_eq!(
            cols.cells(&obj, now),
            vec![
                json!("w"),
                json!(3),
                json!("True"),
                json!(2.0),
                json!(true),
                json!("60m"),
                Value::Null,
                Value::Null,
                json!("{\"a\":\"b\"}"),
            ]
        );
        let names: Vec<_> = cols.definitions().into_iter().map(|c| c.name).collect();
        assert_eq!(names[0], "Name");
        assert_eq!(names.len(), 9);
    }

    #[test]
    fn age_by_default() {
        let cols = Columns::new(&[]);
        let defs = cols.definitions();
        assert_eq!(defs[1].name, "Age");
        assert_eq!(defs[1].kind, "date");
    }
}
