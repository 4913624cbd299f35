//! Compiler-style configuration errors. STUB: owned by the config helper.

/// One problem in `chats.yaml`, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Every problem found in one file; `Display` prints them all as
/// `file:line:col: error: message` plus the source line, a caret and the hint.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub path: std::path::PathBuf,
    pub source: String,
    pub errors: Vec<Diagnostic>,
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for e in &self.errors {
            writeln!(
                f,
                "{}:{}:{}: error: {}",
                self.path.display(),
                e.line,
                e.column,
                e.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
