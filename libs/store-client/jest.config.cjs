'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'store-client',
  rootDir: __dirname,
};
