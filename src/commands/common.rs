//! Options shared by the commands that read meter dumps.
