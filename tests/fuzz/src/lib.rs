//! What every fuzz target shares.

/// Lets libFuzzer report stack overflows. libFuzzer runs inputs on the main
/// thread (with a 2 MiB stack when fuzzing as docs/testing.md says), and
/// its SIGSEGV handler then runs on the overflowed stack, overflows itself,
/// and the process dies without a report or the input. So: give the main
/// thread an alternate signal stack, and mark SIGSEGV's (default) action
/// `SA_ONSTACK`, a flag libFuzzer keeps when it installs its handler over
/// it. Runs before libFuzzer installs its handlers.
pub fn init() {
    const SIZE: usize = 64 * 1024;
    let stack: &'static mut [u8] = Box::leak(vec![0u8; SIZE].into_boxed_slice());
    let alt = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: SIZE,
    };
    // SAFETY: `alt` describes memory that lives as long as the process, and
    // the action is the default one, only flagged.
    unsafe {
        let rc = libc::sigaltstack(&alt, std::ptr::null_mut());
        assert_eq!(rc, 0, "sigaltstack: {}", std::io::Error::last_os_error());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        action.sa_flags = libc::SA_ONSTACK;
        let rc = libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
        assert_eq!(rc, 0, "sigaction: {}", std::io::Error::last_os_error());
    }
}
