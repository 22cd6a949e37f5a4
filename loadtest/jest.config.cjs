'use strict';
module.exports = {
  ...require('../jest.preset.cjs'),
  displayName: 'loadtest',
  rootDir: __dirname,
};
