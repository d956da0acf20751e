/**
 * The recipe test's checks run Jest in the copy with this as globalSetup: none of the test files
 * it picks runs the program (the plan of every stack already did), so no program server is started.
 */
module.exports = async () => {};
