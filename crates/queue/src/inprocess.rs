//! placeholder
pub struct InProcessQueue;
