// swift-tools-version:6.0
import PackageDescription

/// Flags for the numeric kernels: `-fno-math-errno` lets `sqrtf`/`expf` loops vectorize,
/// and release builds drop bounds checks in the hot loops (the kernels use unsafe pointers).
/// Loops calling expf/log1pf/tanhf vectorize into glibc's libmvec (`-vector-library=LIBMVEC`).
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-fno-math-errno"]),
    .unsafeFlags(["-Ounchecked", "-Xllvm", "-vector-library=LIBMVEC"], .when(configuration: .release)),
]

let package = Package(
    name: "vae-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vae-dist", targets: ["VAEDistCLI"]),
        .library(name: "VAEModel", targets: ["VAEModel"]),
        .library(name: "VAEDistributed", targets: ["VAEDistributed"]),
        .library(name: "VAETraining", targets: ["VAETraining"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C shims.
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "pkg-config"])]),
        .systemLibrary(
            name: "COpenMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin", "pkg-config"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev", "pkg-config"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev", "pkg-config"])]),
        .systemLibrary(
            name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev", "pkg-config"])]),
        // Per-thread heap-allocation counting (replaces malloc in the executables that link it).
        .target(name: "CAllocationCounter"),
        // The model's hottest element-wise loops for AVX2, used when the CPU has it (each rounds as the Swift loop).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno"])]),
        // The SIGBUS handler for mapped data files that shrink under their mapping (a zero page, counted).
        .target(name: "CMappedFiles"),
        // SHA-256's compression function, through the CPU's SHA extensions where it has them.
        .target(name: "CSHA256", cSettings: [.unsafeFlags(["-O3"])]),
        // The thin C wrapper over OpenMPI: the only code that calls MPI.
        .target(name: "CMPIShim", dependencies: ["COpenMPI"]),
        // The vocabulary every room declares its settings in (a typed key with its check, default, help and flag)
        // and the typed reads of JSON values. No I/O.
        .target(name: "VAESettings"),
        // Model math: tensors, ops (forward/backward pairs), the VAE, Adam, counter-based RNG. No I/O, no MPI.
        .target(
            name: "VAEModel", dependencies: ["VAESettings", "CBLAS", "CKernels"], swiftSettings: kernelFlags,
            linkerSettings: [.linkedLibrary("mvec", .when(platforms: [.linux]))]),
        // The distributed layer: the Communicator protocol, the single-process communicator, node-shared memory,
        // one GradientExchange type per strategy. No MPI.
        .target(name: "VAEDistributed", dependencies: ["VAEModel"], swiftSettings: kernelFlags),
        // The MPI implementation of the Communicator protocol.
        .target(name: "VAEMPI", dependencies: ["CMPIShim", "VAEDistributed"]),
        // The version and the source revision (written before each build by the SourceRevision plugin).
        .plugin(name: "SourceRevision", capability: .buildTool()),
        .target(name: "VAEBuildInfo", plugins: ["SourceRevision"]),
        // Training: configuration, data, checkpoints, the loop, reporting, the benchmark.
        .target(
            name: "VAETraining",
            dependencies: [
                "VAESettings", "VAEModel", "VAEDistributed", "VAEBuildInfo", "CPNG", "CZlib", "CTurboJPEG", "CSHA256",
                "CMappedFiles",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: kernelFlags),
        // The CLI's commands (swift-argument-parser): parse and dispatch, nothing else.
        .target(
            name: "VAECommandLine",
            dependencies: [
                "VAESettings", "VAEModel", "VAEDistributed", "VAETraining", "VAEMPI", "VAEBuildInfo", "CAllocationCounter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The vae-dist executable: starts the commands.
        .executableTarget(name: "VAEDistCLI", dependencies: ["VAECommandLine", "CAllocationCounter"], path: "Sources/vae-dist"),
        // vae-dist with the fault-tolerance tests' injected faults (VAE_DIST_FAULT); built for the tests only.
        .executableTarget(
            name: "vae-dist-faults", dependencies: ["VAECommandLine", "VAETestSupport", "CAllocationCounter", "CBLASFaults"],
            path: "Tests/FaultInjection"),
        // vae-dist-faults' stand-ins for openblas_get_corename and cblas_sgemm: a generic choice reported, wrong
        // kernels (the kernel choice's tests, on any CPU).
        .target(name: "CBLASFaults", dependencies: ["CBLAS"], path: "Tests/BLASFaults"),
        // Test doubles of the communicator and exchange layers (the test bundle and the MPI checks only).
        .target(name: "VAETestSupport", dependencies: ["VAEDistributed", "VAEModel", "VAETraining"], path: "Tests/Support"),
        // Multi-rank checks, run under mpirun by the MPI test suite.
        .executableTarget(
            name: "vae-dist-mpi-check",
            dependencies: [
                "VAEMPI", "VAEDistributed", "VAETraining", "VAETestSupport", "CAllocationCounter",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/MPICheck"),
        // The checkpoint reader's and the NPY header parser's libFuzzer target (Launch/fuzz.sh); a replay tool in
        // normal builds.
        .executableTarget(
            name: "vae-dist-fuzz", dependencies: ["VAEModel", "VAEDistributed", "VAETraining"], path: "Tests/Fuzz"),
        .testTarget(
            name: "VAEDistTests",
            dependencies: [
                "VAESettings", "VAEModel", "VAEDistributed", "VAETraining", "VAEBuildInfo", "VAETestSupport",
                "CAllocationCounter", "CSHA256", "CKernels", "CTurboJPEG",
            ],
            exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v5]
)
