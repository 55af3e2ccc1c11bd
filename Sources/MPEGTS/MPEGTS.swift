// MPEGTS module: implementation lands in the following commits.
