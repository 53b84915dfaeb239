//! What every fuzz target shares.

/// Gives the thread libFuzzer runs inputs on (the main thread) an
/// alternate signal stack. An input that overflows the stack then reaches
/// libFuzzer's SIGSEGV handler, which reports it and saves the input;
/// without one the handler itself overflows and the process dies silently.
/// (Fuzzing runs with a 2 MiB stack, see docs/testing.md.)
pub fn init() {
    const SIZE: usize = 64 * 1024;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIZE].into_boxed_slice());
    let alt = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: `alt` describes memory that lives as long as the process.
    let rc = unsafe { libc::sigaltstack(&alt, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "sigaltstack: {}", std::io::Error::last_os_error());
}
