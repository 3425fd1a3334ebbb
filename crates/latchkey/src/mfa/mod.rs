//! Second factors: time-based one-time passwords (RFC 6238, [`totp`]) and
//! single-use recovery codes ([`recovery`]). The rules only: no storage and
//! no HTTP. The login flow that asks for them, their store and their API
//! build on these (issue 15, in progress).

pub mod recovery;
pub mod totp;
