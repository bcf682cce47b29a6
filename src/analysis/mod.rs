//! Analysis: from events to an answer. Places Procmon rows in time ([`align`]), finds the
//! disconnects and decodes them ([`disconnect`]), and ranks the causes the rules found.

pub mod align;
pub mod disconnect;
