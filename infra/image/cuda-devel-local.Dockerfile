# A stand-in for the nvidia/cuda devel base where no registry is reachable (infra/image/build_local.sh):
# the locally made Ubuntu 24.04 base plus the CUDA compiler Ubuntu ships (multiverse: nvidia-cuda-toolkit
# 12.0, the only CUDA 12 toolkit of 24.04; torch checks the major version only). Production builds keep
# nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04 (container/Dockerfile's default).
ARG BASE
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN echo "deb http://archive.ubuntu.com/ubuntu noble multiverse" > /etc/apt/sources.list.d/multiverse.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends nvidia-cuda-toolkit \
    && rm -rf /var/lib/apt/lists/* \
    && nvcc --version
# torch.utils.cpp_extension looks for CUDA here (Ubuntu installs nvcc in /usr/bin, headers in /usr/include).
ENV CUDA_HOME=/usr
