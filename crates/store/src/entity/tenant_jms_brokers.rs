//! A tenant's JMS broker as the last `resources` run read it (`JmsBrokers('Broker1')`); one row
//! per tenant.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_jms_brokers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    /// False: the tenant has no JMS broker (the figures are all null).
    pub has_jms: bool,
    pub capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    pub queue_count: Option<i64>,
    pub max_queue_count: Option<i64>,
    pub queues_ok: Option<i64>,
    pub queues_warning: Option<i64>,
    pub queues_error: Option<i64>,
    pub transacted_sessions_high: Option<bool>,
    pub consumers_high: Option<bool>,
    pub producers_high: Option<bool>,
    pub collected_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenants::Entity",
        from = "Column::TenantId",
        to = "super::tenants::Column::Id",
        on_delete = "Cascade"
    )]
    Tenants,
}

impl Related<super::tenants::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenants.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
