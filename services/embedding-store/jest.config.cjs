'use strict';
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'embedding-store',
  rootDir: __dirname,
};
