//! Wording: the rules that refuse a dishonest or sloppy text, and the rendering of one update for
//! every channel from the same facts.

pub mod count;
pub mod render;
pub mod rules;
