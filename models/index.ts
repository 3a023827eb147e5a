// models/index.ts: `onestep/models` — data sets, the EDM denoiser and samplers, score networks and metrics.
export { toy2d, TOY2D_NAMES, type Toy2d, type Toy2dName } from './data/toy2d';
export { HostRng } from './data/rng';
export { EDMDenoiser, edmLoss, fSpaceLoss, edmCoefficients, edmSigmas, karrasGrid, maybeDropLabels, sigmaLike, type ScoreNet, type EDMConfig, type EDMLossOptions } from './edm';
export { MLPScoreNet, MLP_DEFAULTS, type MLPScoreNetConfig } from './mlp';
export { UNet, UNetBlock, UNET_DEFAULTS, MNIST_UNET, type UNetConfig } from './unet';
export { heunSample, eulerSample, oneStepSample, type SampleOptions, type SampleResult } from './samplers';
export { SlicedReference, slicedWasserstein, modeStats, type ModeStats, type SlicedOptions } from './metrics/toy';
export { DMDTrainer, DMD_DEFAULTS, type DMDConfig, type DMDLosses, type RegressionPairs, type RealData } from './dmd';
export { GanHead, softplus, ganGeneratorLoss, ganDiscriminatorLoss } from './gan';
export { saveModel, loadModel, buildDenoiser, sampleShapeOf, type ModelMeta } from './checkpoint';
export { mnist, mnistFromRaw, mnistRaw, mnistBatch, oneHot, resizeDigit, areaWeights, sampleIndices, gatherImages, MNIST_SIZES, MNIST_CLASSES, MNIST_TEST_PER_CLASS, type MnistData, type MnistSize, type MnistSplit, type MnistOptions, type MnistBatch, type MnistBatchOptions } from './data/mnist';
export { MNISTClassifier, CLASSIFIER_DEFAULTS, saveClassifier, loadClassifier, classify, type ClassifierConfig, type ClassifierMeta } from './classifier';
export { frechetDistance, gaussianStats, symmetricEigen, precisionRecall, classHistogram, imageMetrics, imageReference, mnistReference, mnistDataFloor, type GaussianStats, type PrecisionRecall, type ClassHistogram, type ImageMetrics, type ImageReference } from './metrics/images';
