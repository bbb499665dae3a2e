// Library entry point.

export { convertTar, convertStream, computeRootDigest, type ConvertOptions, type ConvertResult } from './host/convert.js';
export { verifyImage, formatVerification, type Verification } from './host/verify.js';
export { appendVhdFooterTo } from './host/vhd.js';
export { inspectImage, formatSummary, type ImageSummary } from './host/inspect.js';
export { diffImages, formatDiff, type ImageDiff } from './host/image-diff.js';
export { Ext4Image, withExt4Image } from './host/ext4-reader.js';
export { LcowError } from './host/errors.js';
