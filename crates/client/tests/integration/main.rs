//! Integration tests of flowcompile-client against HTTP servers on 127.0.0.1: a scripted mock server for
//! faults and exact request bodies, and the real zoo server for every budget mode; the in-process zoo
//! transport against the same server.

mod faults;
mod inproc;
mod litellm;
mod mock;
mod secrets;
mod zoo;
