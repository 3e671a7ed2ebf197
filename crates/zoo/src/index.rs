//! The normalised text index that recognises a known question inside a prompt.
//!
//! Text is normalised to its words (maximal runs of alphanumeric characters, lowercased), each word
//! hashed. A question is indexed under the hash of its first `KEY_WORDS` words; a prompt is scanned once,
//! looking up the window starting at each word, and every hit is verified against the question's full
//! word sequence. Cost: O(prompt words) lookups, independent of the number of tasks; a window is only
//! keyed and looked up when its first word starts some question, and the maps hash their keys (already
//! avalanched word hashes) by passing them through.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::hash::{combine, mix};

/// Words per index key (questions with fewer words are keyed by all of them).
const KEY_WORDS: usize = 8;

/// One normalised word: its hash and the byte offset just past it in the source text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Word {
    pub hash: u64,
    pub end: usize,
}

/// The words of `text`, normalised.
pub(crate) fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut h: Option<u64> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            let mut acc = h.unwrap_or(0xcbf2_9ce4_8422_2325);
            for lc in c.to_lowercase() {
                acc = (acc ^ lc as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
            h = Some(acc);
        } else if let Some(acc) = h.take() {
            out.push(Word {
                hash: mix(acc),
                end: i,
            });
        }
    }
    if let Some(acc) = h {
        out.push(Word {
            hash: mix(acc),
            end: text.len(),
        });
    }
    out
}

fn window_key(words: &[Word]) -> u64 {
    words
        .iter()
        .fold(words.len() as u64, |k, w| combine(k, w.hash))
}

/// A question found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Index of the question, in insertion order.
    pub idx: u32,
    /// Byte offset just past the question's last word in the searched text.
    pub end: usize,
}

/// A hasher for keys that are avalanched hashes already: a `u64` passes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = combine(self.0, u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Pass = BuildHasherDefault<PassThrough>;

/// Index of question texts.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuestionIndex {
    key_lens: Vec<usize>,
    first_words: HashSet<u64, Pass>,
    map: HashMap<u64, Vec<u32>, Pass>,
    questions: Vec<Vec<u64>>,
}

impl QuestionIndex {
    /// Indexes `question` under the next index; questions without words can never be found.
    pub fn push(&mut self, question: &str) {
        let idx = self.questions.len() as u32;
        let ws = words(question);
        if !ws.is_empty() {
            let len = ws.len().min(KEY_WORDS);
            self.map
                .entry(window_key(&ws[..len]))
                .or_default()
                .push(idx);
            if !self.key_lens.contains(&len) {
                self.key_lens.push(len);
            }
            self.first_words.insert(ws[0].hash);
        }
        self.questions
            .push(ws.into_iter().map(|w| w.hash).collect());
    }

    /// The question that starts last in `text` (the longest one among those starting at the same word,
    /// then the first indexed), if any.
    pub fn find(&self, text: &str) -> Option<Found> {
        let ws = words(text);
        let mut best: Option<(usize, usize, Found)> = None;
        for start in 0..ws.len() {
            if !self.first_words.contains(&ws[start].hash) {
                continue;
            }
            for &len in &self.key_lens {
                let Some(window) = ws.get(start..start + len) else {
                    continue;
                };
                let Some(ids) = self.map.get(&window_key(window)) else {
                    continue;
                };
                for &idx in ids {
                    let q = &self.questions[idx as usize];
                    let matches = ws
                        .get(start..start + q.len())
                        .is_some_and(|span| span.iter().zip(q).all(|(w, h)| w.hash == *h));
                    let better = match best {
                        None => true,
                        Some((s, l, f)) => {
                            start > s
                                || (start == s && (q.len() > l || (q.len() == l && idx < f.idx)))
                        }
                    };
                    if matches && better {
                        let end = ws[start + q.len() - 1].end;
                        best = Some((start, q.len(), Found { idx, end }));
                    }
                }
            }
        }
        best.map(|(_, _, f)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(qs: &[&str]) -> QuestionIndex {
        let mut ix = QuestionIndex::default();
        for q in qs {
            ix.push(q);
        }
        ix
    }

    #[track_caller]
    fn check(ix: &QuestionIndex, text: &str, want: Option<(u32, &str)>) {
        let got = ix.find(text).map(|f| (f.idx, &text[f.end..]));
        assert_eq!(got, want, "in {text:?}");
    }

    #[test]
    fn finds_questions_despite_case_spacing_and_punctuation() {
        let ix = index(&[
            "Carol has 20 signatures in her book, and Jennifer has 44. How many more?",
            "Who is older, Ann or Bob?",
            "What is 2+2?",
        ]);
        check(&ix, "Solve:\nCAROL has 20 signatures in her book and Jennifer   has 44 -- how many more? Go.", Some((0, "? Go.")));
        check(&ix, "Q: who is older ann or bob", Some((1, "")));
        check(
            &ix,
            "what is 2 + 2 ? \\boxed{4}",
            Some((2, " ? \\boxed{4}")),
        );
        check(
            &ix,
            "Carol has 20 signatures in her book, and Jennifer has 45.",
            None,
        );
        check(&ix, "", None);
    }

    #[test]
    fn the_last_question_in_the_text_wins() {
        let ix = index(&["What is 2+2?", "What is 3+3?"]);
        check(
            &ix,
            "Example: what is 2+2? 4. Now: what is 3+3? Answer:",
            Some((1, "? Answer:")),
        );
        check(&ix, "what is 3+3? then what is 2+2?", Some((0, "?")));
    }

    #[test]
    fn longest_and_first_question_win_at_the_same_start() {
        let ix = index(&[
            "Name the city.",
            "Name the city of light in France.",
            "name the CITY",
        ]);
        check(
            &ix,
            "name the city of light in france please",
            Some((1, " please")),
        );
        check(&ix, "name the city!", Some((0, "!")));
    }

    #[test]
    fn unicode_words_are_normalised() {
        let ix = index(&["Où est la Gare de Lyon?"]);
        check(&ix, "OÙ EST LA GARE DE LYON", Some((0, "")));
    }
}
