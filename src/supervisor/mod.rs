//! The supervisor: observe -> decide -> act. The only place where decisions become side effects.

pub mod seams;
