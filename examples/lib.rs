//! Small helpers shared by the runnable examples in this folder.
