//! The word-count pipeline: read → tokenize → count → write, each a `#[receipt]` stage.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use receipt_runtime::receipt;

/// Reads the input file; the text's hash is the stage output.
#[receipt(stage = "read", hash_output)]
pub fn read_input(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
}

/// Splits the text into lower-case words.
#[receipt(stage = "tokenize", hash(text), hash_output, after = "read")]
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Counts each word.
#[receipt(stage = "count", hash(words), hash_output, after = "tokenize")]
pub fn count(words: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for w in words {
        *counts.entry(w.clone()).or_insert(0) += 1;
    }
    tracing::info!(distinct = counts.len(), "counted words");
    counts
}

/// Writes `word,count` lines, most frequent first, ties by word.
#[receipt(stage = "write", hash(counts), after = "count")]
pub fn write_report(counts: &BTreeMap<String, u64>, out: &Path) -> io::Result<()> {
    let mut rows: Vec<(&String, &u64)> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut text = String::from("word,count\n");
    for (w, c) in rows {
        text.push_str(&format!("{w},{c}\n"));
    }
    std::fs::write(out, text)
}

/// The whole pipeline as one stage with four nested stages.
#[receipt(stage = "wordcount", skip_all)]
pub fn run(input: &Path, output: &Path) -> io::Result<usize> {
    let text = read_input(input)?;
    let words = tokenize(&text);
    let counts = count(&words);
    write_report(&counts, output)?;
    Ok(counts.len())
}
