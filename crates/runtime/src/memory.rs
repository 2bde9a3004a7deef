//! The C allocator's arenas. glibc gives threads that meet contention arenas of their own (up to
//! eight per core), and memory freed into one arena is not reused for another: the ingest worker,
//! whose pages are parsed on one runtime thread and written from another, peaked at 45–50 MB RSS
//! with glibc's default and 37 MB with a single arena, at the same speed (`docs/benchmarks.md`).
//! Every binary therefore asks for one arena at start, as `MALLOC_ARENA_MAX=1` would; an operator
//! who sets `MALLOC_ARENA_MAX` keeps their value.

/// Arenas to ask for, given the `MALLOC_ARENA_MAX` the process was started with: none when
/// the operator chose (glibc reads the variable itself).
fn wanted_arenas(env: Option<&std::ffi::OsStr>) -> Option<i32> {
    match env {
        Some(_) => None,
        None => Some(1),
    }
}

/// Limit glibc's malloc arenas (see the module doc). Call it first in `main`, before threads
/// start. Returns whether a limit was set here.
pub fn limit_malloc_arenas() -> bool {
    match wanted_arenas(std::env::var_os("MALLOC_ARENA_MAX").as_deref()) {
        Some(n) => set_arena_max(n),
        None => false,
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(n: i32) -> bool {
    // SAFETY: mallopt only sets an allocator parameter; glibc documents M_ARENA_MAX as settable
    // at any time, and it is called before the process starts threads.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_: i32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arena_unless_the_operator_chose() {
        assert_eq!(wanted_arenas(None), Some(1));
        assert_eq!(wanted_arenas(Some(std::ffi::OsStr::new("4"))), None);
        assert_eq!(wanted_arenas(Some(std::ffi::OsStr::new(""))), None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_limit() {
        assert!(set_arena_max(1));
    }
}
