// Can this machine's driver run OptiX as 3DGRUT calls it? (issue #18 item 5; 3DGRUT's OPTIX_CHECK discards
// every error, so a failed optixInit or context creation shows only as a tracer that hits nothing.)
// Build: g++ -std=c++17 -I<optix-dev>/include -I$CUDA_HOME/include optix_probe.cpp -lcuda -ldl -o optix_probe
#include <cuda.h>
#include <optix.h>
#include <optix_function_table_definition.h>
#include <optix_stubs.h>

#include <cstdio>

static void log_cb(unsigned int level, const char* tag, const char* message, void*) {
    std::printf("optix log [%u][%s]: %s\n", level, tag, message);
}

int main() {
    std::printf("OPTIX_VERSION %d ABI %d\n", OPTIX_VERSION, OPTIX_ABI_VERSION);
    std::printf("cuInit %d\n", (int)cuInit(0));
    CUdevice device;
    CUcontext context;
    std::printf("cuDeviceGet %d\n", (int)cuDeviceGet(&device, 0));
    std::printf("cuCtxCreate %d\n", (int)cuDevicePrimaryCtxRetain(&context, device));
    cuCtxSetCurrent(context);
    OptixResult init = optixInit();
    std::printf("optixInit %d (%s)\n", (int)init, init == OPTIX_SUCCESS ? "ok" : "FAILED");
    if (init != OPTIX_SUCCESS) return 1;
    OptixDeviceContextOptions options = {};
    options.logCallbackFunction = &log_cb;
    options.logCallbackLevel = 4;
    OptixDeviceContext optix = nullptr;
    OptixResult created = optixDeviceContextCreate(context, &options, &optix);
    std::printf("optixDeviceContextCreate %d (%s)\n", (int)created, optixGetErrorName(created));
    return created == OPTIX_SUCCESS ? 0 : 2;
}
