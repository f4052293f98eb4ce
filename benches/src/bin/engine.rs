//! Engine benchmark: random 4 KiB page reads through the pager's page cache against raw
//! `pread` on the same file, and commit throughput per durability level against raw
//! `pwrite` (+ `fsync` for Full). Run: `cargo run --release -p pydbm-benches --bin engine`.
//! Files go to a temporary directory under the current directory (a real disk, not tmpfs).

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pydbm_engine::prng::SplitMix64;
use pydbm_engine::{Durability, FileSpec, OsVfs, Pager, PagerOptions, Vfs};

const PAGE: usize = 4096;
const FILE_PAGES: u64 = 16 * 1024; // 64 MiB

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() -> pydbm_engine::Result<()> {
    let dir = tempfile::tempdir_in(".").map_err(|e| pydbm_engine::Error::io(".", e))?;
    let path = dir.path().join("bench.db");
    println!("engine benchmark, files in {}", dir.path().display());

    // A 64 MiB file of pseudo-random bytes.
    {
        let f = std::fs::File::create(&path).map_err(|e| pydbm_engine::Error::io(&path, e))?;
        let mut rng = SplitMix64::new(1);
        let mut chunk = vec![0u8; 1 << 20];
        for i in 0..(FILE_PAGES as usize * PAGE / chunk.len()) {
            for w in chunk.chunks_mut(8) {
                w.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            f.write_all_at(&chunk, (i * chunk.len()) as u64)
                .map_err(|e| pydbm_engine::Error::io(&path, e))?;
        }
        f.sync_all()
            .map_err(|e| pydbm_engine::Error::io(&path, e))?;
    }

    // Random page reads.
    let reads = 200_000u64;
    let pages: Vec<u64> = {
        let mut rng = SplitMix64::new(2);
        (0..reads).map(|_| rng.below(FILE_PAGES)).collect()
    };
    let raw = std::fs::File::open(&path).map_err(|e| pydbm_engine::Error::io(&path, e))?;
    let mut buf = vec![0u8; PAGE];
    let mut sink = 0u64;
    let t = Instant::now();
    for &p in &pages {
        raw.read_exact_at(&mut buf, p * PAGE as u64)
            .map_err(|e| pydbm_engine::Error::io(&path, e))?;
        sink = sink.wrapping_add(buf[7] as u64);
    }
    let t_raw = t.elapsed();
    println!();
    println!("random 4 KiB page reads ({reads} reads over a 64 MiB file, OS page cache warm)");
    println!("{:<34} {:>12} {:>10}", "path", "reads/s", "vs pread");
    println!(
        "{:<34} {:>12.0} {:>10}",
        "raw pread",
        per_sec(reads, t_raw),
        "1.00"
    );
    let vfs: Arc<dyn Vfs> = Arc::new(OsVfs::new());
    for (label, cache) in [
        ("Pager, 8 MiB cache (12% hits)", 8usize << 20),
        ("Pager, 128 MiB cache (all hits)", 128 << 20),
    ] {
        let mut pager = Pager::open(
            vfs.clone(),
            vec![FileSpec::new(&path)],
            PagerOptions {
                read_only: true,
                cache_bytes: cache,
                ..PagerOptions::default()
            },
        )?;
        if cache > (64 << 20) {
            for &p in &pages {
                pager.read_at(0, p * PAGE as u64, &mut buf)?;
            }
        }
        let t = Instant::now();
        for &p in &pages {
            pager.read_at(0, p * PAGE as u64, &mut buf)?;
            sink = sink.wrapping_add(buf[7] as u64);
        }
        let d = t.elapsed();
        println!(
            "{:<34} {:>12.0} {:>10.2}",
            label,
            per_sec(reads, d),
            per_sec(reads, d) / per_sec(reads, t_raw)
        );
    }

    // Commit throughput: each operation writes 100 bytes at a random offset of a 4 MiB file.
    println!();
    println!("commits (one 100-byte write at a random offset of a 4 MiB file per operation)");
    println!(
        "{:<12} {:>12} {:>16} {:>10}",
        "durability", "pydbm ops/s", "raw pwrite ops/s", "ratio"
    );
    let cpath = dir.path().join("commit.db");
    for (durability, ops) in [
        (Durability::None, 50_000u64),
        (Durability::Process, 20_000),
        (Durability::Full, 300),
    ] {
        let _ = std::fs::remove_file(&cpath);
        let mut pager = Pager::open(
            vfs.clone(),
            vec![FileSpec::new(&cpath)],
            PagerOptions {
                durability,
                ..PagerOptions::default()
            },
        )?;
        pager.set_len(0, 4 << 20)?;
        pager.sync()?;
        let mut rng = SplitMix64::new(3);
        let data = [0x5a_u8; 100];
        let t = Instant::now();
        for _ in 0..ops {
            pager.write_at(0, rng.below((4 << 20) - 100), &data)?;
            pager.commit()?;
        }
        if durability == Durability::None {
            pager.sync()?;
        }
        let d = t.elapsed();
        pager.close()?;
        // Baseline: the same writes straight to the file (fsync each for Full).
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&cpath)
            .map_err(|e| pydbm_engine::Error::io(&cpath, e))?;
        let mut rng = SplitMix64::new(3);
        let t = Instant::now();
        for _ in 0..ops {
            f.write_all_at(&data, rng.below((4 << 20) - 100))
                .map_err(|e| pydbm_engine::Error::io(&cpath, e))?;
            if durability == Durability::Full {
                f.sync_all()
                    .map_err(|e| pydbm_engine::Error::io(&cpath, e))?;
            }
        }
        let d_raw = t.elapsed();
        println!(
            "{:<12} {:>12.0} {:>16.0} {:>10.2}",
            format!("{durability:?}"),
            per_sec(ops, d),
            per_sec(ops, d_raw),
            per_sec(ops, d) / per_sec(ops, d_raw)
        );
    }
    println!();
    println!("(checksum {sink})");
    Ok(())
}
