//! Deterministic text embeddings: hashed bag of words.

use crate::index::words;
use crate::zoo::Zoo;

/// Length of every zoo embedding vector.
pub const EMBED_DIMS: usize = 256;

impl Zoo {
    /// Embeds `text` as a hashed bag of its normalised words ([`EMBED_DIMS`] dimensions, signed
    /// feature hashing, L2-normalised; all zeros for a text without words). Independent of the seed,
    /// so vectors stay comparable across zoos.
    pub fn embed(text: &str) -> Vec<f32> {
        let mut v = vec![0f32; EMBED_DIMS];
        for w in words(text) {
            let dim = (w.hash % EMBED_DIMS as u64) as usize;
            v[dim] += if (w.hash >> 32) & 1 == 0 { 1.0 } else { -1.0 };
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_normalised_deterministic_and_similar_for_similar_texts() {
        let a = Zoo::embed("How many apples does Tom have left?");
        let b = Zoo::embed("how many APPLES does tom have, left");
        let c = Zoo::embed("Which film won the Academy Award for costume design?");
        assert_eq!(a.len(), EMBED_DIMS);
        assert!((cos(&a, &a) - 1.0).abs() < 1e-5);
        assert!(
            (cos(&a, &b) - 1.0).abs() < 1e-5,
            "normalisation ignores case and punctuation"
        );
        assert!(cos(&a, &c) < 0.5);
        assert_eq!(a, Zoo::embed("How many apples does Tom have left?"));
        assert!(Zoo::embed("?!").iter().all(|&x| x == 0.0));
    }
}
