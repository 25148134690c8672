//! The global allocator: mimalloc, asked for an alignment only when it needs one.
//!
//! The `mimalloc` crate's allocator passes every allocation's alignment to
//! `mi_malloc_aligned`, whose checks and slower paths cost about 140 instructions an
//! allocation where `mi_malloc`'s takes a block off a free list. Every mimalloc block is
//! aligned to 8 bytes (its sizes are multiples of 8 in pages that are aligned further): a
//! layout that asks for no more goes to the plain calls; hash tables' control bytes (16) and
//! the like to the aligned ones. A block is freed the same way whichever way it was made.
//!
//! A large block (`MAPPED` or more: a growing table, the report's spans, the document's
//! buffer) is a mapping of its own, as glibc's malloc makes one: a vector that doubles moves
//! by `mremap`, its pages neither copied nor touched again (mimalloc's realloc copied into a
//! new block: every page twice), one freed goes back to the system at once, and transparent
//! huge pages are asked for it (the system's setting here is `madvise`): a 2 MiB stretch is
//! one page fault, not 512. `inspect --json` of 100,000 events: 29,600 page faults → 23,100
//! (with THP refused for the process, ~25,000 where ~13,800 now with the later reading and rows changes).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_int, c_long, c_void};
use std::ptr::null_mut;

use libmimalloc_sys as mi;

/// `mi_option_purge_delay`: its place in mimalloc's `mi_option_e` (the same in v2 and v3).
const PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    /// An option's value unless the environment (`MIMALLOC_*`) or a call set it already.
    fn mi_option_set_default(option: c_int, value: c_long);
}

/// Freed memory goes back to the system after 10 ms (mimalloc v2's delay), not v3's whole
/// second: `inspect` frees its blocks' transient memory faster than that, and what waits to
/// be purged counted in its peak (h100k: 102 MB, 87-88 MB with 10 ms, the same CPU).
pub fn purge_soon() {
    // SAFETY: sets an integer option; mimalloc reads it when it next schedules a purge
    unsafe { mi_option_set_default(PURGE_DELAY, 10) }
}

/// What every block mimalloc hands out is aligned to.
const BLOCK_ALIGN: usize = 8;

pub struct MiMalloc;

/// Blocks of this size or more are mappings of their own.
const MAPPED: usize = 1 << 18;

/// The size of the system's pages (a mapping's length is a multiple of it, its address
/// aligned to it).
const PAGE: usize = 4096;

/// Whether a block of `size` bytes aligned to `align` is (or is to be) a mapping.
#[inline]
fn mapped(size: usize, align: usize) -> bool {
    size >= MAPPED && align <= PAGE
}

fn pages(size: usize) -> usize {
    size.div_ceil(PAGE) * PAGE
}

/// A fresh mapping of `size` bytes (zeroed), huge pages asked for; null if none.
#[cold]
unsafe fn map(size: usize) -> *mut u8 {
    let (read_write, private) = (
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
    );
    // SAFETY: a new anonymous mapping, overlapping nothing
    let block = unsafe { libc::mmap(null_mut(), pages(size), read_write, private, -1, 0) };
    if block == libc::MAP_FAILED {
        return null_mut();
    }
    huge(block, size);
    block as *mut u8
}

/// Transparent huge pages for a mapping (a hint: refused, the mapping is as good).
fn huge(block: *mut c_void, size: usize) {
    // SAFETY: advice about a mapping of ours, of that length
    unsafe { libc::madvise(block, pages(size), libc::MADV_HUGEPAGE) };
}

#[cold]
unsafe fn unmap(block: *mut u8, size: usize) {
    // SAFETY: `block` is a mapping of `size` bytes (`map`), no longer used
    unsafe { libc::munmap(block as *mut c_void, pages(size)) };
}

/// A mapping grown or shrunk, moved if need be; null (and `block` as it was) if it cannot be.
unsafe fn remap(block: *mut u8, size: usize, new_size: usize) -> *mut u8 {
    let (old, new) = (pages(size), pages(new_size));
    // SAFETY: `block` is a mapping of `old` bytes (`map`)
    let moved = unsafe { libc::mremap(block as *mut c_void, old, new, libc::MREMAP_MAYMOVE) };
    if moved == libc::MAP_FAILED {
        return null_mut();
    }
    moved as *mut u8
}

// SAFETY: mimalloc returns null on failure, blocks aligned as asked (by `BLOCK_ALIGN` or
// explicitly), and frees and reallocates any block it made; a mapping is aligned to `PAGE`
// and unmapped or remapped whole (`mapped` tells it by the layout, the same at every call).
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if mapped(layout.size(), layout.align()) {
                map(layout.size())
            } else if layout.align() <= BLOCK_ALIGN {
                mi::mi_malloc(layout.size()) as *mut u8
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if mapped(layout.size(), layout.align()) {
                map(layout.size()) // a fresh mapping is zeroed
            } else if layout.align() <= BLOCK_ALIGN {
                mi::mi_zalloc(layout.size()) as *mut u8
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe {
            if mapped(layout.size(), layout.align()) {
                unmap(ptr, layout.size());
            } else {
                mi::mi_free(ptr as *mut c_void)
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            if mapped(layout.size().max(new_size), layout.align()) {
                self.realloc_mapped(ptr, layout, new_size)
            } else if layout.align() <= BLOCK_ALIGN {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

impl MiMalloc {
    /// `realloc` where the block is, or is to be, a mapping.
    #[cold]
    unsafe fn realloc_mapped(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        unsafe {
            if mapped(size, align) && mapped(new_size, align) {
                return remap(ptr, size, new_size);
            }
            // into or out of a mapping: a new block, what fits copied. SAFETY (the layout):
            // `realloc`'s caller promises `new_size` rounded up to `align` fits an `isize`
            let new = self.alloc(Layout::from_size_align_unchecked(new_size, align));
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, size.min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_as_their_layouts_ask() {
        let mut blocks = Vec::new();
        for align in [1, 2, 4, 8, 16, 32, 64] {
            for size in [1, 3, 8, 12, 24, 40, 116, 1000, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let block = unsafe { MiMalloc.alloc(layout) };
                assert!(
                    !block.is_null() && (block as usize).is_multiple_of(align),
                    "{size} {align}"
                );
                let grown = unsafe { MiMalloc.realloc(block, layout, size * 3) };
                assert!(
                    !grown.is_null() && (grown as usize).is_multiple_of(align),
                    "{size} {align}"
                );
                let zeroed = unsafe { MiMalloc.alloc_zeroed(layout) };
                assert!((zeroed as usize).is_multiple_of(align) && unsafe { *zeroed } == 0);
                blocks.push((grown, Layout::from_size_align(size * 3, align).unwrap()));
                blocks.push((zeroed, layout));
            }
        }
        for (block, layout) in blocks {
            unsafe { MiMalloc.dealloc(block, layout) };
        }
    }

    #[test]
    fn a_block_keeps_its_bytes_as_it_moves_into_out_of_and_between_mappings() {
        let layout = |size| Layout::from_size_align(size, 8).unwrap();
        let (small, large, larger) = (MAPPED / 2, MAPPED, 5 * MAPPED + 3);
        let zeroed = unsafe { MiMalloc.alloc_zeroed(layout(larger)) };
        assert!(
            unsafe { std::slice::from_raw_parts(zeroed, larger) }
                .iter()
                .all(|&b| b == 0)
        );
        unsafe { MiMalloc.dealloc(zeroed, layout(larger)) };
        let mut block = unsafe { MiMalloc.alloc(layout(small)) };
        let mut size = small;
        for byte in 0..small {
            unsafe { *block.add(byte) = byte as u8 };
        }
        // small → mapped → grown mapping → shrunk mapping → small again
        for new_size in [large, larger, large + 1, small - 1] {
            block = unsafe { MiMalloc.realloc(block, layout(size), new_size) };
            assert!(!block.is_null(), "{size} → {new_size}");
            let kept = size.min(new_size).min(small);
            let bytes = unsafe { std::slice::from_raw_parts(block, kept) };
            assert!(
                bytes.iter().enumerate().all(|(i, &b)| b == i as u8),
                "{size} → {new_size}"
            );
            size = new_size;
        }
        unsafe { MiMalloc.dealloc(block, layout(size)) };
    }

    #[test]
    fn a_block_no_address_space_holds_is_null_and_the_block_to_grow_stays_as_it_was() {
        let huge = Layout::from_size_align(isize::MAX as usize - PAGE + 1, 8).unwrap();
        assert!(unsafe { MiMalloc.alloc(huge) }.is_null());
        assert!(unsafe { MiMalloc.alloc_zeroed(huge) }.is_null());
        // a small block that cannot become a mapping, a mapping that cannot grow (mremap fails)
        for size in [MAPPED / 2, 2 * MAPPED] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            let block = unsafe { MiMalloc.alloc(layout) };
            unsafe { block.write_bytes(7, size) };
            let grown = unsafe { MiMalloc.realloc(block, layout, huge.size()) };
            assert!(grown.is_null(), "{size}");
            let bytes = unsafe { std::slice::from_raw_parts(block, size) };
            assert!(bytes.iter().all(|&b| b == 7), "{size}");
            unsafe { MiMalloc.dealloc(block, layout) };
        }
    }

    #[test]
    fn a_large_block_is_aligned_as_its_layout_asks_mapped_or_not() {
        // up to a page's alignment a mapping; beyond it mimalloc's aligned calls
        for align in [8, 64, PAGE, 2 * PAGE, 1 << 16] {
            let layout = |size| Layout::from_size_align(size, align).unwrap();
            let aligned = |block: *mut u8| !block.is_null() && (block as usize).is_multiple_of(align);
            let mut size = MAPPED + 1;
            let mut block = unsafe { MiMalloc.alloc_zeroed(layout(size)) };
            assert!(aligned(block), "{align}");
            // the same pages, more, out of a mapping, into one again
            for new_size in [MAPPED + 100, 3 * MAPPED, MAPPED / 4, 2 * MAPPED] {
                block = unsafe { MiMalloc.realloc(block, layout(size), new_size) };
                assert!(aligned(block), "{align}: {size} → {new_size}");
                size = new_size;
            }
            unsafe { MiMalloc.dealloc(block, layout(size)) };
        }
    }

    #[test]
    fn threads_move_their_blocks_into_and_out_of_mappings_side_by_side() {
        let layout = |size| Layout::from_size_align(size, 8).unwrap();
        std::thread::scope(|scope| {
            for thread in 1..=4u8 {
                scope.spawn(move || {
                    for _ in 0..20 {
                        let mut size = MAPPED / 2;
                        let mut block = unsafe { MiMalloc.alloc(layout(size)) };
                        unsafe { block.write_bytes(thread, size) };
                        for new_size in [MAPPED, 4 * MAPPED, MAPPED / 3] {
                            block = unsafe { MiMalloc.realloc(block, layout(size), new_size) };
                            let kept = unsafe { std::slice::from_raw_parts(block, MAPPED / 3) };
                            assert!(kept.iter().all(|&b| b == thread), "{size} → {new_size}");
                            size = new_size;
                        }
                        unsafe { MiMalloc.dealloc(block, layout(size)) };
                    }
                });
            }
        });
    }
}
