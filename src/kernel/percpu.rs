//! Reading per-CPU map values: the kernel side keeps its counters per CPU
//! (plain adds, no atomics), and userspace adds the CPUs' copies up.

use libbpf_rs::{MapCore, MapFlags};

/// The value at `key` of a per-CPU map, read as `N` native-endian u64 words
/// (one counter, or a struct of counters), each summed over the CPUs; None
/// if the map has no such entry. Words a CPU's value is too short for count 0.
pub fn sum_percpu<const N: usize>(
    map: &dyn MapCore,
    key: u32,
) -> Result<Option<[u64; N]>, libbpf_rs::Error> {
    sum_percpu_at(map, &key.to_ne_bytes())
}

/// [`sum_percpu`] at a key of any type, as its bytes.
pub fn sum_percpu_at<const N: usize>(
    map: &dyn MapCore,
    key: &[u8],
) -> Result<Option<[u64; N]>, libbpf_rs::Error> {
    let Some(per_cpu) = map.lookup_percpu(key, MapFlags::ANY)? else {
        return Ok(None);
    };
    Ok(Some(sum_words(&per_cpu)))
}

/// Each CPU's value as u64 words, summed word by word.
fn sum_words<const N: usize>(per_cpu: &[Vec<u8>]) -> [u64; N] {
    let mut sum = [0u64; N];
    for value in per_cpu {
        for (s, w) in sum.iter_mut().zip(value.chunks_exact(8)) {
            *s += u64::from_ne_bytes(w.try_into().expect("8 bytes"));
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_summed_over_the_cpus() {
        let cpu = |a: u64, b: u64| [a.to_ne_bytes(), b.to_ne_bytes()].concat();
        assert_eq!(sum_words::<2>(&[cpu(1, 10), cpu(2, 20)]), [3, 30]);
        // A value shorter than N words leaves the rest at 0.
        assert_eq!(
            sum_words::<3>(&[cpu(1, 10), 5u64.to_ne_bytes().to_vec()]),
            [6, 10, 0]
        );
        assert_eq!(sum_words::<1>(&[]), [0]);
    }
}
