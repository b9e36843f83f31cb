//! Work on a slice split over scoped threads: what a one-shot signer does to use every
//! core for a PSBT of many inputs (deriving the keys it names, making its signatures).

/// `work` on consecutive chunks of `items`, one per thread, at most `threads` threads
/// and at least `min_per_thread` items each (fewer items: one chunk, on the calling
/// thread, as when `threads` is 1). The chunks' results in order; `Err` for a chunk whose
/// thread panicked. A chunk whose thread cannot be started (the system's thread limit)
/// is worked on the calling thread instead. All threads have ended when this returns.
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    min_per_thread: usize,
    thread_name: &str,
    work: impl Fn(&[T]) -> R + Sync,
) -> Vec<std::thread::Result<R>> {
    let threads = threads.clamp(1, (items.len() / min_per_thread.max(1)).max(1));
    if threads == 1 {
        return vec![Ok(work(items))];
    }
    let chunk = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                std::thread::Builder::new()
                    .name(thread_name.to_owned())
                    .spawn_scoped(scope, move || work(part))
                    .map_err(|_| part)
            })
            .collect();
        running
            .into_iter()
            .map(|thread| match thread {
                Ok(thread) => thread.join(),
                Err(part) => Ok(work(part)),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_their_order_and_size_and_few_items_stay_on_this_thread() {
        let items: Vec<u32> = (0..100).collect();
        let here = std::thread::current().id();
        let sums = |threads, min| {
            map_chunks(&items, threads, min, "test", |part| {
                (
                    part.len(),
                    part.first().copied(),
                    std::thread::current().id() == here,
                )
            })
            .into_iter()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
        };
        assert_eq!(sums(1, 1), [(100, Some(0), true)]);
        assert_eq!(sums(8, 60), [(100, Some(0), true)], "fewer than 2 × 60 items");
        assert_eq!(
            sums(3, 10),
            [(34, Some(0), false), (34, Some(34), false), (32, Some(68), false)]
        );
        assert_eq!(sums(0, 0), [(100, Some(0), true)], "0 threads is one");
        assert_eq!(
            map_chunks(&[] as &[u32], 4, 1, "test", <[u32]>::len)
                .into_iter()
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
            [0]
        );
        let panicked = map_chunks(&items, 2, 1, "test", |part| assert!(part[0] == 0));
        assert!(panicked[0].is_ok() && panicked[1].is_err());
    }
}
