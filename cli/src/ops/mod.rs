//! Operations: the work behind the commands. They return data (`Serialize`) and leave
//! rendering to `commands/`.

pub mod autopilot;
pub mod deploy;
pub mod drill;
pub mod load;
pub mod plan;
pub mod region;
pub mod status;
