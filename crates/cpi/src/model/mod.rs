//! Typed, read-only CPI entities. Every struct ignores unknown properties and tolerates missing
//! ones (the schema grows over time); only entity keys are required, because a record without
//! its key cannot be stored or followed up.

pub mod content;
pub mod mpl;
pub mod resources;
pub mod security;

pub use content::{
    IntegrationDesigntimeArtifact, IntegrationPackage, IntegrationRuntimeArtifact,
    RuntimeArtifactErrorInfo, ValueMappingDesigntimeArtifact,
};
pub use mpl::{
    AdapterAttribute, CustomHeaderProperty, IntegrationArtifactRef, MessageProcessingLog,
    MessageStoreEntry, MplAttachment, MplErrorInformation, MplParts, MplRun, MplRunStep,
    RunStepProperty,
};
pub use resources::{DataStore, JmsBroker, JmsQueueState};
pub use security::KeystoreEntry;

/// Implements [`crate::odata::Entity`] for a struct with a `metadata` field.
macro_rules! entity {
    ($t:ty, $name:literal) => {
        impl $crate::odata::Entity for $t {
            const TYPE_NAME: &'static str = $name;
            fn metadata(&self) -> Option<&$crate::odata::Metadata> {
                self.metadata.as_ref()
            }
        }
    };
}
pub(crate) use entity;

/// Any entity as a JSON object, for sets IntegraMon does not model (the envelope is still
/// checked).
pub type RawEntity = serde_json::Map<String, serde_json::Value>;

impl crate::odata::Entity for RawEntity {
    const TYPE_NAME: &'static str = "";
    fn metadata(&self) -> Option<&crate::odata::Metadata> {
        None
    }
}
