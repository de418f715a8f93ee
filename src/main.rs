//! The `raincast` binary: installs the allocator controls (`unsafe` FFI,
//! kept out of the library) and hands over to the
//! library's command line.

mod allocator;

fn main() -> std::process::ExitCode {
    raincast::memory::install(allocator::hooks());
    raincast::cli::main()
}
