'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'kernels',
  rootDir: __dirname,
};
