{
  "targets": [{
    "target_name": "lmedit_torch",
    "sources": ["native/addon.cc", "native/ops.cc", "native/linalg_autograd.cc", "native/bench.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<!@(node scripts/torch-paths.mjs include)"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GLIBCXX_USE_CXX11_ABI=1"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
    "ldflags": ["<!@(node scripts/torch-paths.mjs ldflags)"],
    "libraries": ["<!@(node scripts/torch-paths.mjs libs)"]
  }]
}
