// Process-wide allocator settings, applied before any thread starts.
#pragma once

namespace kmirror::cli {

// glibc gives every thread that allocates its own arena (up to 8 per core). librdkafka's
// broker threads allocate fetch and produce buffers, so freed memory sat in arenas other
// threads could not reuse: with two arenas the peak RSS of a 1 KiB copy fell from 140 to
// 92 MiB and CPU per GB by a quarter (docs/benchmarks.md). MALLOC_ARENA_MAX in the
// environment still wins.
void tune_allocator();

}  // namespace kmirror::cli
