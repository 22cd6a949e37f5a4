import { describeTrainableConformance } from '../conformance/suite';

describeTrainableConformance({ spec: 'full', shape: { fields: [50, 7, 300], dim: 8 } });
