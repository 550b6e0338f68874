//! Tests of the payments module: the wire format and callback parsing against Daraja's samples,
//! the real client against `FakeDaraja`, and the simulator against a local callback receiver.

mod callback;
mod client;
mod refusals;
mod simulator;
mod support;
mod wire;
