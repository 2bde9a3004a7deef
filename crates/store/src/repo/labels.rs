//! Labels on tenants, packages and iFlows (`team=finance`), which every alert about them
//! carries, so rules, silences and routing can match owners.

use std::collections::HashMap;

use domain::alerts::Labels;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::connect::Db;
use crate::entity::object_labels;
use crate::error::StoreError;
use crate::repo::{Bulk, Sql};

/// What a label is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    Tenant,
    Package,
    Iflow,
}

impl Object {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Package => "package",
            Self::Iflow => "iflow",
        }
    }
}

/// A tenant's labels: its own, and per package and per iFlow id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLabels {
    pub tenant: Labels,
    pub packages: HashMap<String, Labels>,
    pub iflows: HashMap<String, Labels>,
}

/// Replace the labels of one object (`id` is ignored for the tenant itself).
pub async fn set(
    db: &Db,
    tenant_id: i64,
    object: Object,
    id: &str,
    labels: &Labels,
) -> Result<(), StoreError> {
    let id = if object == Object::Tenant { "" } else { id };
    let txn = db.begin_write().await?;
    let mut sql = Sql::new(txn.get_database_backend());
    sql.push("DELETE FROM object_labels WHERE tenant_id = ")
        .bind(tenant_id)
        .push(" AND object_type = ")
        .bind(object.as_str())
        .push(" AND object_id = ")
        .bind(id);
    txn.execute_raw(sql.statement()).await?;
    let rows: Vec<(&str, &str)> = labels.iter().collect();
    let bulk = Bulk {
        head: "INSERT INTO object_labels (tenant_id, object_type, object_id, name, value)",
        tail: "",
        shared: vec![],
    };
    for stmt in bulk.statements(txn.get_database_backend(), &rows, |t, (k, v)| {
        t.bind(tenant_id)
            .bind(object.as_str())
            .bind(id)
            .bind(k.to_string())
            .bind(crate::repo::clean(v));
    }) {
        txn.execute_raw(stmt).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Every label of a tenant and its packages and iFlows.
pub async fn of_tenant(db: &Db, tenant_id: i64) -> Result<TenantLabels, StoreError> {
    let rows = object_labels::Entity::find()
        .filter(object_labels::Column::TenantId.eq(tenant_id))
        .order_by_asc(object_labels::Column::Id)
        .all(db.conn())
        .await?;
    let mut out = TenantLabels::default();
    for r in rows {
        let target = match r.object_type.as_str() {
            "tenant" => &mut out.tenant,
            "package" => out.packages.entry(r.object_id).or_default(),
            "iflow" => out.iflows.entry(r.object_id).or_default(),
            _ => continue,
        };
        // Names were checked when set; a bad stored one is skipped rather than failing.
        let _ = target.set(&r.name, r.value);
    }
    Ok(out)
}
