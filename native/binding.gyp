{
  "targets": [
    {
      "target_name": "amalgam_linalg",
      "sources": ["src/linalg.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node blas-include-dirs.cjs)"
      ],
      "libraries": ["-llapacke", "-lopenblas"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-ffp-contract=off", "-fno-math-errno"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"]
    }
  ]
}
